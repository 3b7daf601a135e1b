"""Regenerates docs/api-overview.md from the library's XML documentation.

Run from the repository root after `dotnet build src/Circuits.Interpretability -c Release`:
    python3 docs/tools/api_overview.py
"""
import collections
import re
import xml.etree.ElementTree as ET

XML = 'src/Circuits.Interpretability/bin/Release/net8.0/Circuits.Interpretability.xml'
ORDER = ['Circuits.Interpretability', 'Circuits.Interpretability.Hooks', 'Circuits.Interpretability.Models',
         'Circuits.Interpretability.IO', 'Circuits.Interpretability.Imaging', 'Circuits.Interpretability.Rendering',
         'Circuits.Interpretability.Circuits', 'Circuits.Interpretability.Attribution',
         'Circuits.Interpretability.Analysis', 'Circuits.Interpretability.Reporting']


def text_of(element):
    """The element's text with <see cref/> and <paramref/> written as their short names."""
    parts = [element.text or '']
    for child in element:
        if child.tag in ('see', 'seealso'):
            ref = child.get('cref') or child.get('langword') or ''
            parts.append(re.sub(r'`\d+', '', ref.split(':')[-1].split('(')[0].split('.')[-1]))
        elif child.tag in ('paramref', 'typeparamref'):
            parts.append(child.get('name', ''))
        else:
            parts.append(text_of(child))
        parts.append(child.tail or '')
    return ''.join(parts)


types = collections.defaultdict(list)
for member in ET.parse(XML).getroot().iter('member'):
    name = member.get('name')
    if not name.startswith('T:') or '+' in name:
        continue
    namespace, _, short = name[2:].rpartition('.')
    summary = member.find('summary')
    text = ' '.join(text_of(summary).split()) if summary is not None else ''
    first = re.split(r'(?<=[.:])\s', text, 1)[0]
    types[namespace].append((re.sub(r'`\d+', '<T>', short), first.replace('|', '/')))

out = ['# API overview', '',
       'The public types of the `Circuits.Interpretability` package, by namespace (one folder per namespace under',
       '`src/Circuits.Interpretability/`), with the first sentence of each type\'s XML documentation. Every public',
       'member is documented in the package\'s XML docs (IntelliSense); the concept pages explain how the pieces',
       'fit: [hooks](hooks.md), [feature visualization](feature-visualization.md), [circuits](circuits.md),',
       '[analysis](analysis.md), [InceptionV1](inceptionv1.md), [weight formats](weight-formats.md).', '',
       'Generated from the XML documentation by `docs/tools/api_overview.py`.', '']
for namespace in ORDER + sorted(k for k in types if k not in ORDER):
    if namespace not in types:
        continue
    out += [f'## `{namespace}`', '', '| type | what it is |', '| --- | --- |']
    out += [f'| `{n}` | {t} |' for n, t in sorted(types[namespace])]
    out.append('')
with open('docs/api-overview.md', 'w', encoding='utf-8') as f:
    f.write('\n'.join(out))
