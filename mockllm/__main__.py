"""`python -m mockllm`."""

from mockllm.cli import main

main()
