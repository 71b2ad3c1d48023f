#!/usr/bin/env bash
# Code size: lines per module (folder or top-level file under src/) and the longest
# functions outside test code.
#
#   bench/code-size.sh          # modules, then the 15 longest functions
#   bench/code-size.sh 30       # the 30 longest
#
# Relies on rustfmt's layout (cargo fmt is enforced): a function runs from its `fn` line to
# the first `}` at the same indentation. Test modules (`mod tests`, src/**/tests.rs) are
# left out of the function list, not out of the line counts.
set -euo pipefail
cd "$(dirname "$0")/.."
top=${1:-15}
echo "== lines per module (src/)"
for p in src/*; do
  name=${p#src/}
  if [ -d "$p" ]; then
    n=$(find "$p" -name '*.rs' -print0 | xargs -0 cat | wc -l)
    name="$name/"
  else
    n=$(wc -l <"$p")
  fi
  printf '%6d  %s\n' "$n" "$name"
done | sort -rn
printf '%6d  total\n' "$(find src -name '*.rs' -print0 | xargs -0 cat | wc -l)"
echo "== longest functions (lines, outside tests)"
# The file list splits into words on purpose (paths under src/ have no spaces).
# shellcheck disable=SC2046
python3 -c "$(cat <<'PY'
import re, sys
top = int(sys.argv[1])
fn = re.compile(r'^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)')
rows = []
for path in sys.argv[2:]:
    lines = open(path, encoding='utf-8').read().split('\n')
    in_tests = None  # indentation of a `mod tests` block
    for i, line in enumerate(lines):
        if in_tests is not None:
            if line == in_tests + '}':
                in_tests = None
            continue
        if re.match(r'^\s*mod tests\s*\{', line):
            in_tests = re.match(r'^(\s*)', line).group(1)
            continue
        m = fn.match(line)
        if not m or line.rstrip().endswith(';'):
            continue
        indent = m.group(1)
        for j in range(i, len(lines)):
            if lines[j] == indent + '}':
                rows.append((j - i + 1, f'{path}:{i + 1}', m.group(7)))
                break
rows.sort(key=lambda r: (-r[0], r[1]))
for n, where, name in rows[:top]:
    print(f'{n:6d}  {name}  {where}')
PY
)" "$top" $(find src -name '*.rs' ! -name tests.rs | sort)
