"""The package version, in a leaf module so that anything inside the package can name it without importing
the package itself."""

__version__ = "0.1.0"
