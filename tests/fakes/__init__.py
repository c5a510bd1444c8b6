"""Local fake API servers (127.0.0.1 only) that speak the documented shapes of the platforms.

Each platform module offers a ``Fake<Platform>`` class built on :class:`fakes.server.FakeServer`
with seedable state; :mod:`fakes.fixtures` exposes one pytest fixture per platform.
"""
