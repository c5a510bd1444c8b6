from tests.org.support import _fast_passwords, w, world  # noqa: F401  (fixtures)
