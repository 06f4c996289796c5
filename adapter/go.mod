module github.com/longshore/longshore/adapter

go 1.22
