#!/usr/bin/python3
"""Generate readfile_golden.json: supervisord 4.2.5's own readFile and
tailFile (supervisor/options.py) over a table of files, offsets and lengths.

Run with Debian's /usr/bin/python3, the only one that imports supervisor:
    /usr/bin/python3 testdata/readfile_golden.py > testdata/readfile_golden.json
TestGoldenIsSupervisords reruns it and compares.
"""
import json
import os
import sys
import tempfile

from supervisor.options import readFile, tailFile

FILES = {
    "empty": "",
    "one": "x",
    "short": "line one\nline two\n",
    "hundred": "".join("%02d-456789\n" % i for i in range(10)),  # 100 bytes
}
MISSING = "missing"   # no such file
DIRECTORY = "dir"     # a directory

VALUES = [-1000, -101, -100, -99, -50, -18, -17, -2, -1, 0, 1, 2, 17, 18, 19,
          50, 99, 100, 101, 1000]


def main():
    cases = []
    with tempfile.TemporaryDirectory() as d:
        for name, content in FILES.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(content)
        os.mkdir(os.path.join(d, DIRECTORY))
        for name in list(FILES) + [MISSING, DIRECTORY]:
            path = os.path.join(d, name)
            for offset in VALUES:
                for length in VALUES:
                    case = {"file": name, "offset": offset, "length": length}
                    try:
                        case["read"] = readFile(path, offset, length).decode("ascii")
                        case["read_error"] = ""
                    except ValueError as e:
                        case["read"] = ""
                        case["read_error"] = e.args[0]
                    data, new_offset, overflow = tailFile(path, offset, length)
                    case["tail"] = data
                    case["tail_offset"] = new_offset
                    case["tail_overflow"] = overflow
                    cases.append(case)
    # One case per line, so that a diff shows which case changed.
    out = sys.stdout
    out.write('{"files": %s,\n"cases": [\n' % json.dumps(FILES, sort_keys=True))
    out.write(",\n".join(json.dumps(c, sort_keys=True) for c in cases))
    out.write("\n]}\n")


if __name__ == "__main__":
    main()
