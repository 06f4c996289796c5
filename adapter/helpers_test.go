package main

import (
	"net"
	"strconv"
)

type netAddr = net.TCPAddr

func itoa(i int) string { return strconv.Itoa(i) }
