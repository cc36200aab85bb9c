"""moto_server, with DynamoDB's write atomicity.

DynamoDB applies each conditional write atomically: of two containers racing on one item, exactly one
condition holds. moto's threaded server checks a condition and writes the item in separate Python steps
without a lock, so two requests on two threads can both pass the check. Our race tests (two containers
claiming one notification or one alarm's message) need DynamoDB's behaviour, so each write operation of
moto's DynamoDB backend runs under one lock here. Everything else is moto_server as it is.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT (the arguments of moto_server).
"""
import functools
import sys
import threading

from moto import server
from moto.dynamodb.models import DynamoDBBackend

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

if __name__ == "__main__":
    server.main(sys.argv[1:])
