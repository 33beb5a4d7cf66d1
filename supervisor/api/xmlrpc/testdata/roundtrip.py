# roundtrip.py SOCKET: Python's own xmlrpc.client against roost's /RPC2 on a
# unix socket (run by python_test.go with /usr/bin/python3).
#
# 1. Every XML-RPC type goes through the test.echo method and must come back
#    equal, with the same Python type. Failures are printed; exit status 1.
# 2. Then each [method, params] of the JSON list on stdin is called and its
#    result printed, as one JSON list: {"value": v} or {"fault": [code, text]}.
import datetime
import http.client
import json
import math
import socket
import sys
import xmlrpc.client as x


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.socket_path)


class UnixTransport(x.Transport):
    def __init__(self, path):
        super().__init__(use_builtin_types=True)
        self.socket_path = path

    def make_connection(self, host):
        # One kept-alive connection, as supervisorctl's transport does.
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        self._connection = host, UnixConnection(self.socket_path)
        return self._connection[1]


proxy = x.ServerProxy("http://localhost/RPC2", transport=UnixTransport(sys.argv[1]), allow_none=True)

deep = "bottom"
for i in range(60):
    deep = [deep] if i % 2 else {"level": deep}

values = [
    "", "plain", "<&>\"' and ]]> too", "unicode é ü 日本 🎉 \u2603 \U0001F600", "tab\tnewline\n",
    0, 1, -1, 2**31 - 1, -2**31,
    True, False,
    0.0, -0.0, 1.5, -2.25, 0.1, 1e300, 5e-324, 1.7976931348623157e308, float("inf"), float("-inf"), float("nan"),
    None,
    b"", b"\x00\x01\xfe\xff", bytes(range(256)) * 4,
    datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.datetime(1999, 12, 31, 23, 59, 59),
    [], {}, [1, "two", [3.0, [None, [True, {"k": [b"x"]}]]]],
    {"a": 1, "b": {"c": [1, 2, {"d": None}]}, "<&>": "key with specials", "é": "unicode key", "": "empty key"},
    deep,
]


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(p, q) for p, q in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


failures = []
for v in values:
    got = proxy.test.echo(v)
    if not same(got, [v]):
        failures.append("echo(%r) = %r" % (v, got))
got = proxy.test.echo(*values)
if not same(got, values):
    failures.append("echo(*values) = %r" % (got,))

# Python's MultiCall helper expects results wrapped in one-element lists;
# supervisord sends them unwrapped, and so does roost.
mc = x.MultiCall(proxy)
mc.supervisor.getAPIVersion()
try:
    list(mc())
    failures.append("MultiCall consumed unwrapped results")
except ValueError as e:
    if "unexpected type in multicall result" not in str(e):
        failures.append("MultiCall: %r" % e)

results = []
for method, params in json.load(sys.stdin):
    try:
        results.append({"value": getattr(proxy, method)(*params)})
    except x.Fault as f:
        results.append({"fault": [f.faultCode, f.faultString]})
print(json.dumps(results))

if failures:
    sys.stderr.write("\n".join(failures) + "\n")
    sys.exit(1)
