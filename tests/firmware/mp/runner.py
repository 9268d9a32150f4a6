# Runs test functions under MicroPython: micropython runner.py <module> [name...]
# Prints "PASS name" or "FAIL name" and the traceback; exits 1 on a failure.
# Coroutine functions run in a fresh asyncio loop.
import asyncio
import gc
import sys


def main():
    mod = __import__(sys.argv[1])
    names = sys.argv[2:] or [n for n in dir(mod) if n.startswith("test_")]
    failed = 0
    for name in names:
        fn = getattr(mod, name)
        try:
            r = fn()
            if r is not None and hasattr(r, "send"):
                asyncio.run(r)
                asyncio.new_event_loop()
            print("PASS", name)
        except Exception as e:
            failed += 1
            print("FAIL", name)
            sys.print_exception(e)
        gc.collect()
    sys.exit(1 if failed else 0)


main()
