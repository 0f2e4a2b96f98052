#!/usr/bin/env python3
"""Check the shared library's exported symbols (meson tests abi_symbols and
man_pages).

    tools/check_abi.py symbols LIB MAP INCLUDE_DIR...
    tools/check_abi.py man LIB MAN3_DIR

`symbols` reads `nm -D --defined-only LIB` and fails, naming each symbol,
when:
  - a CORIO_API function of an installed header is not exported (it is
    missing from the version script MAP: everything unlisted is local);
  - MAP lists a name the library does not export (a stale or misspelt line);
  - the library exports anything that is not a corio_ name, or a corio__
    internal, or a corio_ name no installed header declares;
  - an exported symbol carries no CORIO_ version node.
`man` fails when an exported symbol has no page MAN3_DIR/<symbol>.3.
Exit status 0 when clean, 1 otherwise (with one line per problem).
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corio_headers  # noqa: E402


def exported(lib):
    """{name: version node or ''} of the defined dynamic symbols of lib."""
    out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) < 3:
            continue
        name, _, version = parts[2].partition('@')
        version = version.lstrip('@')
        # The version nodes themselves appear as absolute symbols.
        if parts[1] == 'A' and name.startswith('CORIO_'):
            continue
        syms[name] = version
    return syms


def map_names(path):
    """{name: (node, line)} of the global names the version script lists."""
    text = open(path, encoding='utf-8').read()
    names = {}
    node = None
    in_global = False
    no_comments = re.sub(r'/\*.*?\*/', lambda m: '\n' * m.group(0).count('\n'), text, flags=re.S)
    for i, ln in enumerate(no_comments.split('\n'), 1):
        s = ln.split('#')[0].strip()
        m = re.match(r'^(\w+)\s*\{', s)
        if m:
            node, in_global = m.group(1), False
            continue
        if s.startswith('global:'):
            in_global = True
            s = s[len('global:'):].strip()
        elif s.startswith('local:'):
            in_global = False
        elif s.startswith('}'):
            in_global = False
        if in_global:
            for name in re.findall(r'(\w+)\s*;', s):
                names[name] = (node, i)
    return names


def check_symbols(lib, map_path, include_dirs):
    headers = corio_headers.public_headers(include_dirs)
    declared = {f.name: f for f in corio_headers.all_functions(headers)}
    syms = exported(lib)
    listed = map_names(map_path)
    first_node = next(iter(dict.fromkeys(n for n, _ in listed.values())), 'CORIO_0.1')
    problems = []
    for name, f in sorted(declared.items()):
        if name not in syms:
            if name in listed:
                problems.append('%s (declared in <%s>, line %d) is listed in %s but not '
                                'exported: is it defined, with CORIO_API?' % (name, f.header, f.line, map_path))
            else:
                problems.append('%s (declared in <%s>, line %d) is not exported: add the line '
                                '"    %s;" to %s, node %s (or the open node; see the policy '
                                'at its top)' % (name, f.header, f.line, name, map_path, first_node))
    for name, (node, line) in sorted(listed.items()):
        if name not in syms and name not in declared:
            problems.append('%s:%d: %s is listed (node %s) but neither declared in an installed '
                            'header nor exported: remove the line' % (map_path, line, name, node))
    for name, version in sorted(syms.items()):
        if not name.startswith('corio_') or name.startswith('corio__'):
            problems.append('%s exports %s, which is not a public corio_ name: give it hidden '
                            'visibility (no CORIO_API) or a static definition' % (lib, name))
        elif name not in declared:
            problems.append('%s exports %s, declared in no installed header: declare it in one '
                            'of include/corio/*.h, or drop CORIO_API and its line in %s'
                            % (lib, name, map_path))
        elif not version.startswith('CORIO_'):
            problems.append('%s: %s has no CORIO_ version node (%r): is %s passed to the '
                            'linker?' % (lib, name, version, map_path))
    if problems:
        print('abi_symbols: %d problem(s):' % len(problems))
        for p in problems:
            print('  ' + p)
        return 1
    nodes = sorted(set(syms.values()))
    print('abi_symbols: %d exported symbols, all declared, listed and versioned (%s)'
          % (len(syms), ', '.join(nodes)))
    return 0


def check_man(lib, man3):
    syms = [s for s in exported(lib) if s.startswith('corio_')]
    missing = [s for s in sorted(syms) if not os.path.exists(os.path.join(man3, s + '.3'))]
    if missing:
        print('man_pages: %d exported symbol(s) without a page in %s:' % (len(missing), man3))
        for s in missing:
            print('  %s: no %s.3 (is it declared with CORIO_API and a doc comment in an '
                  'installed header? tools/gen_man.py writes a page for each)' % (s, s))
        return 1
    print('man_pages: %d exported symbols, each with its page in %s' % (len(syms), man3))
    return 0


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == 'symbols':
        return check_symbols(sys.argv[2], sys.argv[3], sys.argv[4:])
    if len(sys.argv) == 4 and sys.argv[1] == 'man':
        return check_man(sys.argv[2], sys.argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
