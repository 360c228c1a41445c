"""A local S3 for the tests: moto's server on a free 127.0.0.1 port, with
request signatures checked (moto checks them only once auth is on), one IAM
user allowed everything, and the buckets named on the command line.

Prints one JSON line {"endpoint", "access_key", "secret_key"}, then answers
commands, one a line on standard input, with one JSON line each, until its
standard input closes:

    list BUCKET PREFIX    -> ["key", ...]
    get BUCKET KEY PATH   -> "ok" (the object saved at PATH)
    bucket NAME           -> "ok" (a new bucket)

    python3 tests/support/s3_server.py BUCKET...
"""

import json
import os
import sys

# The first actions (creating the user, its key and its policy) are allowed
# unsigned; every later request must be signed with the user's key.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bootstrap")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bootstrap")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402


def main():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint)
    iam.create_user(UserName="gor")
    key = iam.create_access_key(UserName="gor")["AccessKey"]
    iam.put_user_policy(
        UserName="gor",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    for bucket in sys.argv[1:]:
        s3.create_bucket(Bucket=bucket)
    print(
        json.dumps(
            {
                "endpoint": endpoint,
                "access_key": key["AccessKeyId"],
                "secret_key": key["SecretAccessKey"],
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        cmd = line.split()
        try:
            if cmd[0] == "list":
                pages = s3.get_paginator("list_objects_v2").paginate(
                    Bucket=cmd[1], Prefix=cmd[2] if len(cmd) > 2 else ""
                )
                answer = [o["Key"] for p in pages for o in p.get("Contents", [])]
            elif cmd[0] == "get":
                s3.download_file(cmd[1], cmd[2], cmd[3])
                answer = "ok"
            elif cmd[0] == "bucket":
                s3.create_bucket(Bucket=cmd[1])
                answer = "ok"
            else:
                answer = {"error": f"unknown command {cmd[0]}"}
        except Exception as e:  # reported to the test, which fails on it
            answer = {"error": str(e)}
        print(json.dumps(answer), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
