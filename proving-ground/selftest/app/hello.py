import sys
print(f"longshore proving ground self-test on Python {sys.version.split()[0]}")
