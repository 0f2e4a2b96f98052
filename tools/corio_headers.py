"""Read corio's public headers: what tools/gen_man.py, tools/check_abi.py and
tools/check_docs.py share.

The public headers are every include/corio/*.h of the source tree plus the
ones meson generates into the build tree (version.h), and include/corio.h.
A header needs no registration: a new file under include/corio/ is found
here, gets man pages, and its CORIO_API functions are checked against the
version script.

What is parsed, and how (the headers follow docs/STYLE rules, so a simple
reader suffices):
  - the header's first comment: its description;
  - every `/** ... */` doc comment, and the declaration right after it;
  - every declaration starting with CORIO_API, up to its `;`, whose name is
    the identifier before the first `(`. A declaration with no doc comment
    of its own takes the previous one when it directly follows another
    CORIO_API declaration (a documented group);
  - typedefs (struct, enum, function pointer) with their doc comments, so a
    page can show the types its prototype uses;
  - every corio_/CORIO_ identifier anywhere in the header (declared names).
"""
import glob
import os
import re

IDENT = re.compile(r'\b(?:corio|CORIO)_\w+\b')
TOKEN = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\])*"|\S', re.S)


class Function:
    """One CORIO_API function: name, prototype, doc comment, header."""

    def __init__(self, name, proto, doc, header, line):
        self.name = name
        self.proto = proto
        self.doc = doc
        self.header = header
        self.line = line


class Header:
    """One public header: its path, include name, description, contents."""

    def __init__(self, path, include):
        self.path = path
        self.include = include
        self.description = ''
        self.functions = []
        self.types = {}
        self.names = set()


def clean_comment(text):
    """The text of a /* */ or /** */ comment, without the markers and the
    leading ' * ' of each line, keeping blank lines and indentation."""
    body = re.sub(r'^/\*\*?', '', text)
    body = re.sub(r'\*/$', '', body)
    lines = []
    for ln in body.split('\n'):
        m = re.match(r'^\s*\* ?(.*)$', ln)
        lines.append(m.group(1) if m else ln.strip())
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    # The first line of `/** text` keeps no indentation of its own.
    if lines:
        lines[0] = lines[0].strip()
    return '\n'.join(ln.rstrip() for ln in lines)


def parse_header(path, include):
    src = open(path, encoding='utf-8').read()
    h = Header(path, include)
    h.names = set(IDENT.findall(re.sub(r'/\*.*?\*/', '', src, flags=re.S)))
    first = re.match(r'\s*(/\*.*?\*/)', src, re.S)
    if first:
        h.description = clean_comment(first.group(1))
        # Drop the "corio — " title prefix of the first line.
        h.description = re.sub(r'^corio\s+\S+\s+', '', h.description)

    # Walk the file: doc comments, then CORIO_API declarations and typedefs.
    pos = 0
    last_doc = None          # (text, end offset) of the latest doc comment
    prev_decl_end = None     # end offset of the previous CORIO_API declaration
    prev_doc = None          # the doc comment that declaration used
    pattern = re.compile(r'/\*\*(?!\*).*?\*/|/\*.*?\*/|\bCORIO_API\b|\btypedef\b|#[^\n]*', re.S)
    while True:
        m = pattern.search(src, pos)
        if not m:
            break
        tok = m.group(0)
        if tok.startswith('/**'):
            last_doc = (clean_comment(tok), m.end())
            pos = m.end()
            continue
        if tok.startswith('/*') or tok.startswith('#'):
            pos = m.end()
            continue
        end = find_semicolon(src, m.end())
        decl = src[m.start():end + 1]
        gap_from_doc = last_doc and not src[last_doc[1]:m.start()].strip()
        line = src.count('\n', 0, m.start()) + 1
        if tok == 'CORIO_API':
            proto = ' '.join(re.sub(r'/\*.*?\*/', '', decl, flags=re.S).split())
            proto = re.sub(r'^CORIO_API\s+', '', proto)
            proto = re.sub(r'\s*CORIO_PRINTF\([^)]*\)', '', proto)
            name_m = re.search(r'(\w+)\s*\(', proto)
            if name_m:
                if gap_from_doc:
                    doc = last_doc[0]
                elif prev_decl_end is not None and not src[prev_decl_end:m.start()].strip():
                    doc = prev_doc
                else:
                    doc = None
                h.functions.append(Function(name_m.group(1), proto, doc, include, line))
                prev_doc = doc
            prev_decl_end = end + 1
        else:
            name_m = re.search(r'(\w+)\s*;\s*$', decl) or re.search(r'\(\s*\*\s*(\w+)\s*\)', decl)
            if name_m:
                text = decl
                if gap_from_doc:
                    text = '/** ' + last_doc[0].replace('\n', '\n * ') + ' */\n' + decl
                h.types[name_m.group(1)] = text
            prev_decl_end = None
        last_doc = None
        pos = end + 1
    return h


def find_semicolon(src, pos):
    """The offset of the `;` ending the declaration that starts before pos,
    skipping braces, parentheses, comments and strings."""
    depth = 0
    for m in TOKEN.finditer(src, pos):
        t = m.group(0)
        if t in '({':
            depth += 1
        elif t in ')}':
            depth -= 1
        elif t == ';' and depth == 0:
            return m.start()
    return len(src) - 1


def public_headers(include_dirs):
    """Every public header found under the given include directories (the
    source tree's include/ and the build tree's), as a list of Header, with
    corio.h first. Duplicates by include name keep the first directory."""
    seen = {}
    for d in include_dirs:
        top = os.path.join(d, 'corio.h')
        if os.path.exists(top) and 'corio.h' not in seen:
            seen['corio.h'] = top
        for p in sorted(glob.glob(os.path.join(d, 'corio', '*.h'))):
            inc = 'corio/' + os.path.basename(p)
            seen.setdefault(inc, p)
    return [parse_header(p, inc) for inc, p in seen.items()]


def all_functions(headers):
    return [f for h in headers for f in h.functions]


def declared_names(headers):
    names = set()
    for h in headers:
        names |= h.names
    return names
