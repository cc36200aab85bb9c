"""moto_server, with DynamoDB's write atomicity.

DynamoDB applies each conditional write atomically: of two containers racing on one item, exactly one
condition holds. moto's threaded server checks a condition and writes the item in separate Python steps
without a lock, so two requests on two threads can both pass the check. Our race tests (two containers
claiming one notification or one alarm's message) need DynamoDB's behaviour, so each write operation of
moto's DynamoDB backend runs under one lock here. Everything else is moto_server as it is.

And it is ready before it listens. moto makes each service's Flask app on that service's first request,
under the one lock every request passes (`DomainDispatcherApplication.get_application`): Auto Scaling's
takes a second or more (it brings EC2's models), and meanwhile every other request waits, DynamoDB's
included, long enough for a function's 1.5 s state-table budget to run out. So the apps of the services
the project calls, and their backends in the tests' region, are made here before the port opens.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT (the arguments of moto_server).
"""
import functools
import sys
import threading

from moto import backends, server
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend
from moto.moto_server import werkzeug_app

# The services the functions, the tests and the demo call (Cargo.toml's aws-sdk-* crates, and what the
# tests set up with them), and the regions they use.
SERVICES = ("dynamodb", "kms", "autoscaling", "ec2", "codedeploy", "secretsmanager", "cloudwatch", "scheduler",
            "organizations", "sqs", "sts")
REGIONS = ("eu-west-1", "us-east-1")

_lock = threading.RLock()


def _atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return locked


for _name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):
    if hasattr(DynamoDBBackend, _name):
        setattr(DynamoDBBackend, _name, _atomic(getattr(DynamoDBBackend, _name)))

_dispatcher_init = werkzeug_app.DomainDispatcherApplication.__init__


def _ready(self, create_app):
    _dispatcher_init(self, create_app)
    for service in SERVICES:
        self.app_instances[service] = self.create_app(service)
        backend = backends.get_backend(service)
        for region in REGIONS:
            try:
                backend[DEFAULT_ACCOUNT_ID][region]
            except KeyError:  # a global service
                backend[DEFAULT_ACCOUNT_ID]["aws"]
                break


werkzeug_app.DomainDispatcherApplication.__init__ = _ready

if __name__ == "__main__":
    server.main(sys.argv[1:])
