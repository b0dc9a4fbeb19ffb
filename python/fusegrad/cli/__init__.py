"""The ``fusegrad`` command line: ``train``, ``search``, ``bench``, ``landscape``
(entry point ``fusegrad.cli.main:main``)."""
