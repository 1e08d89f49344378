"""What a restore (or an import) must bring back of a directory, read in the page."""

# Python for the page: describe(top) maps each path below `top` to what a restore must bring back.
# A symlink is described by its target only: its mode is always 0o777 and its mtime is not saved.
DESCRIBE = """
import hashlib, os, stat
def describe(top):
    tree = {}
    for where, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(where, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                entry = {"link": os.readlink(path)}
            else:
                entry = {"mode": oct(stat.S_IMODE(st.st_mode)), "mtime_ns": st.st_mtime_ns}
                if stat.S_ISDIR(st.st_mode):
                    entry["dir"] = True
                else:
                    with open(path, "rb") as f:
                        data = f.read()
                    entry["size"] = len(data)
                    entry["sha256"] = hashlib.sha256(data).hexdigest()
            tree[os.path.relpath(path, top)] = entry
    return tree
"""


def describe(page, top="/data"):
    return page.python(f"{DESCRIBE}\ndescribe({top!r})")
