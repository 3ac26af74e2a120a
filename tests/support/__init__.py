"""What the tests share: fake provider servers, wait helpers, builders, the command counter.

Test modules import from here, never from another ``test_*.py`` module."""
