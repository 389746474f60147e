"""Every module that defines jobs, imported explicitly so the worker knows all task names.
Add a domain's ``tasks`` module here when it gets one."""

from sellerhub.jobs import tasks as jobs_tasks

MODULES = [jobs_tasks]
