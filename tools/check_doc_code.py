#!/usr/bin/env python3
"""Compile the C code of the newcomer's pages against the library.

    tools/check_doc_code.py SOURCE_ROOT BUILD_ROOT LIBCORIO PAGE...

Every ```c block of each PAGE is compiled with the public headers
(-std=gnu11 -Wall -Wextra -Werror):
  - a block with a main() is a whole program: compiled and linked with
    LIBCORIO (the shared library of this build);
  - a block right after a line `<!-- compile: body(PARAMS) -->` is a
    fragment of statements: compiled inside `static void f(PARAMS) { ... }`
    (PARAMS declare what the surrounding text has already introduced);
  - a block after `<!-- compile: skip -->` is not compiled (the comment
    should say why);
  - any other block is top-level code (definitions): compiled on its own
    after the usual includes.
Prints one line per block and the compiler's output for a failure; exits 1
when any block fails.
"""
import os
import re
import subprocess
import sys
import tempfile

PRELUDE = ('#include <corio.h>\n#include <errno.h>\n#include <stdint.h>\n#include <stdio.h>\n'
           '#include <stdlib.h>\n#include <string.h>\n')
BLOCK = re.compile(r'(?:<!--\s*compile:\s*(?P<mode>[^>]*?)\s*-->\s*\n)?```c\n(?P<code>.*?)```', re.S)


def main():
    root, build, lib = sys.argv[1], sys.argv[2], sys.argv[3]
    pages = sys.argv[4:]
    cc = os.environ.get('CC', 'cc')
    flags = ['-std=gnu11', '-Wall', '-Wextra', '-Werror', '-Wno-unused-function',
             '-I', os.path.join(root, 'include'), '-I', os.path.join(build, 'include')]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for page in pages:
            text = open(os.path.join(root, page), encoding='utf-8').read()
            for i, m in enumerate(BLOCK.finditer(text), 1):
                line = text.count('\n', 0, m.start('code'))
                mode, code = (m.group('mode') or '').strip(), m.group('code')
                where = '%s:%d (block %d)' % (page, line, i)
                if mode == 'skip':
                    print('skip  %s' % where)
                    continue
                src = os.path.join(tmp, 'b%d.c' % i)
                body = re.match(r'body\((.*)\)$', mode)
                if body:
                    code = PRELUDE + 'static void fragment(%s) {\n%s}\n' % (body.group(1), code)
                    cmd = [cc] + flags + ['-Wno-unused-parameter', '-Wno-unused-variable',
                                          '-c', src, '-o', src + '.o']
                    kind = 'body'
                elif re.search(r'\bmain\s*\(', code):
                    cmd = [cc] + flags + [src, lib, '-o', src + '.exe']
                    kind = 'prog'
                else:
                    code = PRELUDE + code
                    cmd = [cc] + flags + ['-c', src, '-o', src + '.o']
                    kind = 'defs'
                with open(src, 'w') as f:
                    f.write(code)
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    failed += 1
                    print('FAIL  %s [%s]\n%s' % (where, kind, r.stderr.strip()))
                else:
                    print('ok    %s [%s]' % (where, kind))
    if failed:
        print('%d block(s) failed' % failed)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
