"""Starts a local S3 server for the tests, with signature checking on, and stops it when
standard input closes (so it never outlives the test process that started it).

Usage: python serve.py seaweedfs|moto
Prints one JSON line when the server accepts signed requests:
  {"endpoint": "http://127.0.0.1:PORT", "access_key": "...", "secret_key": "...", "pid": N}
Then reads commands, one per line: `stop` stops the server (its data stays) and answers
`stopped`; `start` starts it again on the same ports and answers `started` once it serves
(SeaweedFS only: moto keeps its data in memory). End of input stops everything.
Runs with the test virtualenv's Python; `weed` and `moto_server` come from the same venv.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config

BIN = os.path.dirname(sys.executable)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, deadline):
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def client(endpoint, ak, sk, service="s3"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=ak,
        aws_secret_access_key=sk,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def wait_signed(endpoint, ak, sk, deadline):
    """Until signed bucket and object writes work (SeaweedFS answers, and then makes buckets,
    before it can store objects)."""
    s3 = client(endpoint, ak, sk)
    last = None
    while time.time() < deadline:
        try:
            s3.create_bucket(Bucket="exportd-ready-probe")
            s3.put_object(Bucket="exportd-ready-probe", Key="probe", Body=b"ready")
            s3.delete_object(Bucket="exportd-ready-probe", Key="probe")
            s3.delete_bucket(Bucket="exportd-ready-probe")
            return
        except Exception as e:  # noqa: BLE001 - anything means "not yet"
            last = e
            time.sleep(0.2)
    raise SystemExit(f"{endpoint} never accepted signed requests: {last}")


def start_seaweedfs(workdir):
    ak, sk = "AKEXPORTDTEST0001", "SKEXPORTDTESTSECRET0001abcdef"
    config = {
        "identities": [
            {"name": "exporter", "credentials": [{"accessKey": ak, "secretKey": sk}],
             "actions": ["Admin", "Read", "List", "Tagging", "Write"]}
        ]
    }
    with open(os.path.join(workdir, "s3.json"), "w") as f:
        json.dump(config, f)
    ports = {name: free_port() for name in [
        "s3.port", "s3.port.grpc", "master.port", "master.port.grpc", "volume.port",
        "volume.port.grpc", "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc"]}
    return launch_seaweedfs(workdir, ports, ak, sk)


def launch_seaweedfs(workdir, ports, ak, sk):
    cmd = [os.path.join(BIN, "weed"), "mini", f"-dir={workdir}/data", "-ip=127.0.0.1",
           "-ip.bind=127.0.0.1", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0",
           "-s3.port.lance=0", f"-s3.config={workdir}/s3.json", "-s3.autoCreateBucket=false",
           # Each bucket takes a volume; by default their number follows the free disk
           # (one per GiB), and on a full shared disk the suite's buckets ran out of them.
           "-volume.max=500"]
    cmd += [f"-{name}={port}" for name, port in ports.items()]
    log = open(os.path.join(workdir, "weed.log"), "a")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    restart = lambda: launch_seaweedfs(workdir, ports, ak, sk)[0]  # noqa: E731
    return proc, f"http://127.0.0.1:{ports['s3.port']}", ak, sk, restart


def start_moto(workdir):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(os.path.join(workdir, "moto.log"), "w")
    proc = subprocess.Popen([os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(endpoint + "/moto-api/", time.time() + 30)
    # Auth is off until reset-auth: make a user with a key first, then turn checking on.
    iam = client(endpoint, "AKIAIOSFODNN7EXAMPLE", "anything", "iam")
    iam.create_user(UserName="exporter")
    key = iam.create_access_key(UserName="exporter")["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="exporter", PolicyName="s3all", PolicyDocument=json.dumps(policy))
    req = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(req, timeout=10)
    return proc, endpoint, key["AccessKeyId"], key["SecretAccessKey"], None


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except Exception:  # noqa: BLE001
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def main():
    kind = sys.argv[1]
    workdir = tempfile.mkdtemp(prefix=f"exportd-{kind}-")
    starter = {"seaweedfs": start_seaweedfs, "moto": start_moto}[kind]
    proc, endpoint, ak, sk, restart = starter(workdir)
    try:
        wait_signed(endpoint, ak, sk, time.time() + 60)
        print(json.dumps({"endpoint": endpoint, "access_key": ak, "secret_key": sk, "pid": proc.pid}), flush=True)
        for line in sys.stdin:  # until the test process goes away
            command = line.strip()
            if command == "stop":
                stop(proc)
                print("stopped", flush=True)
            elif command == "start" and restart is not None:
                proc = restart()
                wait_signed(endpoint, ak, sk, time.time() + 60)
                print("started", flush=True)
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
