"""`python -m harness`: the `harness` command."""

from .startup import main

if __name__ == "__main__":
    main()
