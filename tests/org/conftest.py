from tests.org.support import _fast_passwords, _world_pg, w, world  # noqa: F401  (fixtures)
