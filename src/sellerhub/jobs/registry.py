"""Every module that defines jobs, imported explicitly so the worker knows all task names.
Add a domain's ``tasks`` module here when it gets one."""

from sellerhub.billing import tasks as billing_tasks
from sellerhub.billing.commissions import tasks as commissions_tasks
from sellerhub.billing.credits import tasks as credits_tasks
from sellerhub.billing.payouts import tasks as payouts_tasks
from sellerhub.commerce.claims import tasks as claims_tasks
from sellerhub.commerce.claims.reports import tasks as claims_reports_tasks
from sellerhub.commerce.inventory import tasks as inventory_tasks
from sellerhub.commerce.inventory.fba import tasks as fba_tasks
from sellerhub.commerce.inventory.imports import tasks as inventory_import_tasks
from sellerhub.commerce.sync import tasks as sync_tasks
from sellerhub.connections import tasks as connections_tasks
from sellerhub.identity.accounts import tasks as accounts_tasks
from sellerhub.identity.apps import tasks as apps_tasks
from sellerhub.identity.jwt import tasks as signing_key_tasks
from sellerhub.identity.refresh_tokens import tasks as refresh_token_tasks
from sellerhub.jobs import tasks as jobs_tasks
from sellerhub.mail import tasks as mail_tasks
from sellerhub.webhooks import tasks as webhooks_tasks

MODULES = [jobs_tasks]
MODULES += [mail_tasks, accounts_tasks, signing_key_tasks]
MODULES += [refresh_token_tasks]
MODULES += [apps_tasks]
MODULES += [connections_tasks]
MODULES += [webhooks_tasks]
MODULES += [sync_tasks]
MODULES += [inventory_tasks]
MODULES += [inventory_import_tasks]
MODULES += [fba_tasks]
MODULES += [claims_reports_tasks]
MODULES += [claims_tasks]
MODULES += [credits_tasks]
MODULES += [billing_tasks]
MODULES += [commissions_tasks, payouts_tasks]
