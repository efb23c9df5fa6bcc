"""Alembic migrations of the greywatch schema (a package so installs ship them)."""
