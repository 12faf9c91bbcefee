"""Data sources: one module per dataset layout behind :class:`datamodules.sources.base.DataSource`,
listed and detected in :mod:`datamodules.sources.registry`."""
