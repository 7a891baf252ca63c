"""chinook_svc tests."""
