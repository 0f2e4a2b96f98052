#!/usr/bin/env python3
"""Generate corio's section 3 man pages from the public headers.

    tools/gen_man.py --man3 DIR --version V [--depfile F] INCLUDE_DIR...

Writes DIR/<function>.3 for every CORIO_API function of every public
header (tools/corio_headers.py finds them: any include/corio/*.h, nothing to
register), and DIR/corio.3, the overview: each header's description and
its functions. A page has NAME (the doc comment's first sentence), SYNOPSIS
(the #include, the types the prototype uses, the prototype), DESCRIPTION
(the whole doc comment), CONVENTIONS (the header's own description, where
shared rules such as io.h's live) and SEE ALSO. Pages of functions that no
longer exist are removed. --depfile writes the headers read, so ninja
regenerates the pages when any of them (or corio.h) changes. The date is
taken from SOURCE_DATE_EPOCH when set, for reproducible pages.
"""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corio_headers  # noqa: E402


def esc(text):
    """Escape text for troff: backslashes, leading dots and quotes, minus."""
    text = text.replace('\\', '\\e').replace('-', '\\-')
    return '\n'.join(('\\&' + ln) if ln[:1] in ('.', "'") else ln
                     for ln in text.split('\n'))


def inline(text):
    """`code` spans bold, after escaping."""
    return re.sub(r'`([^`]+)`', r'\\fB\1\\fR', esc(text))


def first_sentence(doc):
    """The doc comment up to its first full stop outside parentheses."""
    if not doc:
        return 'undocumented in the header'
    flat = ' '.join(doc.split())
    depth = 0
    end = len(flat)
    for i, c in enumerate(flat):
        depth += (c == '(') - (c == ')')
        if c == '.' and depth == 0 and (i + 1 == len(flat) or flat[i + 1] == ' '):
            end = i
            break
    s = flat[:end]
    if len(s) > 110:
        s = s[:107].rsplit(' ', 1)[0] + '...'
    return s


def paragraphs(doc):
    """troff for a doc comment: blank lines start paragraphs, ' - ' items
    become a list (a line indented deeper continues the item), and other
    lines indented by 4 or more are kept as they are."""
    out = []
    mode = None              # None, 'item' or 'literal'
    item_indent = 0          # the indentation of the current item's dash
    for ln in doc.split('\n'):
        indent = len(ln) - len(ln.lstrip())
        if not ln.strip():
            if mode == 'literal':
                out.append('.fi')
            out.append('.PP')
            mode = None
            continue
        if mode == 'item' and indent > item_indent:
            out.append(inline(ln.strip()))
            continue
        if mode == 'item':
            out.append('.PP')
            mode = None
        item = re.match(r'^(\s*)[-*] (.*)$', ln)
        if item:
            if mode == 'literal':
                out.append('.fi')
            out.append('.IP \\(bu 2')
            out.append(inline(item.group(2)))
            mode = 'item'
            item_indent = len(item.group(1))
            continue
        if indent >= 4:
            if mode != 'literal':
                out.append('.PP\n.nf')
                mode = 'literal'
            out.append(esc(ln))
            continue
        if mode == 'literal':
            out.append('.fi')
            mode = None
        out.append(inline(ln.strip()))
    if mode == 'literal':
        out.append('.fi')
    return '\n'.join(out)


def th(name, version, date):
    return '.TH %s 3 "%s" "corio %s" "corio Manual"\n' % (name.upper().replace('_', '\\_'), date, version)


def types_used(func, header_types):
    return [header_types[n] for n in dict.fromkeys(corio_headers.IDENT.findall(func.proto))
            if n in header_types and n != func.name and '{' in header_types[n]]


def page(func, header, version, date, all_names):
    refs = [n for n in dict.fromkeys(corio_headers.IDENT.findall(func.doc or ''))
            if n in all_names and n != func.name]
    lines = [th(func.name, version, date),
             '.SH NAME', '%s \\- %s' % (esc(func.name), inline(first_sentence(func.doc))),
             '.SH SYNOPSIS', '.nf', '.B #include <corio.h>',
             '/* declared in <%s> */' % header.include]
    for t in types_used(func, header.types):
        lines += ['', esc(t)]
    lines += ['', '.BI "%s"' % esc(func.proto).replace('"', '\\(dq'), '.fi',
              '.SH DESCRIPTION', paragraphs(func.doc or 'This function has no doc comment in its header.')]
    if header.description:
        lines += ['.SH CONVENTIONS', 'From <%s>:' % header.include, '.PP',
                  paragraphs(header.description)]
    see = ['.BR %s (3)' % esc(n) for n in refs] + ['.BR corio (3)']
    lines += ['.SH SEE ALSO', ',\n'.join(see)]
    return '\n'.join(lines) + '\n'


def overview(headers, version, date):
    lines = [th('corio', version, date), '.SH NAME',
             'corio \\- Python\'s concurrent.futures for C, on io_uring loops with stackful coroutines',
             '.SH SYNOPSIS', '.nf', '.B #include <corio.h>', '.PP',
             'cc app.c $(pkg\\-config \\-\\-cflags \\-\\-libs corio)', '.fi',
             '.SH DESCRIPTION',
             'Each function has its own page, listed below by header. The',
             'guides are in the source tree under docs/.']
    for h in headers:
        if not h.functions:
            continue
        lines += ['.SS <%s>' % h.include]
        if h.description:
            lines += [paragraphs(h.description.split('\n\n')[0])]
        for f in h.functions:
            lines += ['.TP', '.BR %s (3)' % esc(f.name), inline(first_sentence(f.doc))]
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--man3', required=True, help='the directory to write (the build target)')
    ap.add_argument('--version', required=True)
    ap.add_argument('--depfile')
    ap.add_argument('include_dirs', nargs='+')
    a = ap.parse_args()

    epoch = os.environ.get('SOURCE_DATE_EPOCH')
    date = time.strftime('%Y-%m-%d', time.gmtime(int(epoch))) if epoch else ''
    headers = corio_headers.public_headers(a.include_dirs)
    names = {f.name for f in corio_headers.all_functions(headers)}
    man3 = a.man3
    os.makedirs(man3, exist_ok=True)
    wanted = {'corio.3'}
    for h in headers:
        for f in h.functions:
            if not f.doc:
                print('gen_man.py: %s:%d: %s has no doc comment' % (h.path, f.line, f.name),
                      file=sys.stderr)
            fn = f.name + '.3'
            wanted.add(fn)
            write(os.path.join(man3, fn), page(f, h, a.version, date, names))
    write(os.path.join(man3, 'corio.3'), overview(headers, a.version, date))
    for fn in os.listdir(man3):
        if fn not in wanted:
            os.remove(os.path.join(man3, fn))
    # The directory is the build target: its time says the pages are fresh
    # (writing unchanged files would not update it).
    os.utime(man3)
    if a.depfile:
        with open(a.depfile, 'w') as d:
            d.write('%s: %s\n' % (man3.replace(' ', '\\ '),
                                  ' '.join(h.path.replace(' ', '\\ ') for h in headers)))


def write(path, text):
    """Write only when the text changed (keeps timestamps of unchanged pages)."""
    try:
        if open(path, encoding='utf-8').read() == text:
            return
    except OSError:
        pass
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


if __name__ == '__main__':
    main()
