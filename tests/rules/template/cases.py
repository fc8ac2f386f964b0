# ruff: noqa: E501 - the templates are data; wrapping them would change what they test
"""The alert-template corpus: templates, the alert they expand for, and 3.x overrides.

``gen_testdata.py`` runs every case through Debian's promtool 2.42 and stores what Go
rendered in ``testdata/promtool-2.42.json``; ``test_corpus.py`` checks kubeprom against it.
Where Prometheus 3.x (Go 1.23+) renders differently, ``v3`` holds the 3.x text and ``why``
says what changed; ``v3_only`` cases use 3.x-only syntax or functions, so promtool 2.42
cannot render them and ``v3`` is the expectation, derived by hand from the 3.x source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Case:
    id: str
    tmpl: str
    labels: dict[str, str] = field(default_factory=dict)
    value: float = 1.0
    ext: bool = False  # expand with EXTERNAL_LABELS / EXTERNAL_URL
    parse_error: bool = False  # rendered by `promtool check rules` instead
    v3: str | None = None
    why: str | None = None
    v3_only: bool = False
    # (2.42 text, 3.x text): 3.x renders want_242 with this substring replaced
    v3_sub: tuple[str, str] | None = None


EVAL_T_MS = 60_000  # the alerts are evaluated at 1m
EXTERNAL_LABELS = {"cluster": "prod-1", "region": "eu-west"}
EXTERNAL_URL = "http://prom.example.com:9090/prom"

# Series every test group loads, for the query functions. QUERIES is what an instant query
# at EVAL_T_MS returns over them; promtool checks it indirectly, since a wrong entry here
# renders differently from what promtool renders. Prometheus returns a selector's series in
# no fixed order (promtool 2.42 differs from run to run), so templates that range over more
# than one series sort them with sortByLabel, and the fake query returns them unsorted.
QUERY_SERIES = [
    ('qdata{instance="a:9100",job="node"}', 1.0),
    ('qdata{instance="b.example.com:9100",job="node"}', 2.5),
    ('qdata{instance="[::1]:9100",job="api"}', 1e6),
]
_QA = ({"__name__": "qdata", "instance": "a:9100", "job": "node"}, 1.0)
_QB = ({"__name__": "qdata", "instance": "b.example.com:9100", "job": "node"}, 2.5)
_QV6 = ({"__name__": "qdata", "instance": "[::1]:9100", "job": "api"}, 1e6)
QUERIES: dict[str, list[tuple[dict[str, str], float]] | str] = {
    "qdata": [_QB, _QV6, _QA],
    'qdata{job="node"}': [_QB, _QA],
    'qdata{job="api"}': [_QV6],
    'qdata{job="api"} * 2': [({"instance": "[::1]:9100", "job": "api"}, 2e6)],
    "sum(qdata)": [({}, 1000003.5)],
    "scalar(sum(qdata))": [({}, 1000003.5)],
    "nothing_here": [],
    "qdata{": "1:7: parse error: unexpected end of input inside braces",
    '"a string"': "rule result is not a vector or scalar",
}

CASES: list[Case] = []
_counters: dict[str, int] = {}


def c(prefix: str, tmpl: str, **kw: object) -> None:
    n = _counters.get(prefix, 0) + 1
    _counters[prefix] = n
    CASES.append(Case(id=f"{prefix}_{n:03d}", tmpl=tmpl, **kw))  # type: ignore[arg-type]


POD = {"namespace": "monitoring", "pod": "prometheus-k8s-0", "container": "prometheus"}
NODE = {"instance": "node1.example.com:9100", "job": "node-exporter", "mountpoint": "/var"}

# ---- printf: verbs and flags over $value -------------------------------------------------------
FLOAT_VALUES = [
    0.0,
    1.0,
    -1.0,
    0.5,
    2.5,
    3.14159,
    100.0,
    123456.789,
    1234567.0,
    1e6,
    1e21,
    1e-7,
    0.000123,
    -42.75,
    math.nan,
    math.inf,
    -math.inf,
]
FLOAT_FORMATS = [
    "%v",
    "%d",
    "%s",
    "%f",
    "%.2f",
    "%.0f",
    "%0.2f",
    "%.1f%%",
    "%5.1f",
    "%-9.2f|",
    "%08.3f",
    "%+.1f",
    "% .2f",
    "%e",
    "%.3e",
    "%E",
    "%g",
    "%.4g",
    "%.3g",
    "%.10g",
    "%G",
    "%x",
    "%X",
    "%.2x",
    "%b",
    "%t",
    "%q",
    "%10v|",
    "%-10v|",
    "%#v",
    "%+v",
    "%T",
    "%#g",
    "%#.3g",
    "%#.0f",
    "%#e",
    "%F",
    "%o",
    "%5.2f%%",
    "%010.2f",
    "%-010.2f|",
    "%+08.2f",
    "%.20f",
    "%.17g",
]
for _v in FLOAT_VALUES:
    for _f in FLOAT_FORMATS:
        c("fmtf", f'{{{{ printf "{_f}" $value }}}}', value=_v)

INT_FORMATS = [
    ("%d", "42"),
    ("%5d|", "-42"),
    ("%-5d|", "42"),
    ("%05d", "42"),
    ("%05d", "-42"),
    ("%+d", "42"),
    ("% d", "42"),
    ("%.3d", "7"),
    ("%6.3d|", "7"),
    ("%.0d|", "0"),
    ("%x", "255"),
    ("%X", "255"),
    ("%#x", "255"),
    ("%#X", "255"),
    ("%x", "-255"),
    ("%o", "8"),
    ("%#o", "8"),
    ("%O", "8"),
    ("%b", "5"),
    ("%08b", "5"),
    ("%c", "65"),
    ("%c", "0x1F600"),
    ("%q", "65"),
    ("%+q", "0x263A"),
    ("%U", "0x1F600"),
    ("%#U", "0x263A"),
    ("%v", "1_000"),
    ("%v", "0x1F"),
    ("%v", "017"),
    ("%v", "0b101"),
    ("%v", "0o17"),
    ("%v", "'a'"),
    ("%v", "'\\n'"),
    ("%s", "42"),
    ("%f", "42"),
    ("%t", "1"),
    ("%e", "1"),
    ("%.2f", "1.0"),
    ("%d", "1.0"),
    ("%v", "1e3"),
    ("%v", "-0.5"),
    ("%v", "true"),
    ("%t", "false"),
    ("%5t|", "true"),
    ("%d", "true"),
    ("%v", "nil"),
    ("%d", "nil"),
    ("%T", "nil"),
    ("%T", "1"),
    ("%T", '"x"'),
    ("%T", "true"),
    ("%v", "1.5i"),
]
for _f, _arg in INT_FORMATS:
    c("fmti", f'{{{{ printf "{_f}" {_arg} }}}}')

STRING_FORMATS = [
    ("%s", "hello"),
    ("%q", "hello"),
    ("%q", 'say \\"hi\\"\\n'),
    ("%+q", "héllo"),
    ("%#q", "hello"),
    ("%#q", "back`tick"),
    ("%x", "hi"),
    ("% x", "hi"),
    ("%X", "hi"),
    ("% #x", "hi"),
    ("%#x", "héllo"),
    ("%10s|", "hi"),
    ("%-10s|", "hi"),
    ("%010s|", "hi"),
    ("%.2s", "hello"),
    ("%5.1s|", "hello"),
    ("%.3s", "日本語です"),
    ("%6s|", "日本"),
    ("%v", "hello"),
    ("%d", "x"),
    ("%c", "x"),
    ("%10q|", "x"),
    ("%.1q", "hello"),
    ("%s", ""),
    ("%x", ""),
    ("%5x|", ""),
]
for _f, _arg in STRING_FORMATS:
    c("fmts", f'{{{{ printf "{_f}" "{_arg}" }}}}')

MISC_FORMATS = [
    '{{ printf "%d %d" 1 }}',
    '{{ printf "%d" 1 2 }}',
    '{{ printf "%d" 1 "x" nil 2.5 }}',
    '{{ printf "no verbs" 1 }}',
    '{{ printf "%[2]d %[1]d" 1 2 }}',
    '{{ printf "%[3]d" 1 2 }}',
    '{{ printf "%[2]d %d" 1 2 3 }}',
    '{{ printf "%[0]d" 1 }}',
    '{{ printf "%[x]d" 1 }}',
    '{{ printf "%*d|" 5 1 }}',
    '{{ printf "%-*d|" 5 1 }}',
    '{{ printf "%*d|" -5 1 }}',
    '{{ printf "%.*f" 2 3.14159 }}',
    '{{ printf "%.*f" -1 3.14159 }}',
    '{{ printf "%*d" "x" 1 }}',
    '{{ printf "%*d" 1.5 1 }}',
    '{{ printf "%!" }}',
    '{{ printf "%" }}',
    '{{ printf "abc%" 1 }}',
    '{{ printf "%z" 1 }}',
    '{{ printf "%z" "s" }}',
    '{{ printf "%%" }}',
    '{{ printf "%5%|" }}',
    '{{ printf "%-%" }}',
    '{{ printf "%d%%" 50 }}',
    '{{ printf "%v" $labels }}',
    '{{ printf "%s" .Labels }}',
    '{{ printf "%d" .Labels }}',
    '{{ printf "%q" .Labels }}',
    '{{ printf "%v" .ExternalLabels }}',
    '{{ printf "%v" . }}',
    '{{ printf "%+v" . }}',
    '{{ printf "%T" . }}',
    '{{ printf "%T" .Labels }}',
    '{{ printf "%T" $value }}',
    '{{ printf "%v" .Value }}',
    '{{ printf "%.2f" .Value }}',
    '{{ printf "%v" $labels.missing }}',
    '{{ printf "%q" $labels.missing }}',
    "{{ printf `%s=%.1f` $labels.instance $value }}",
    '{{ printf "%s" (printf "%d" 3) }}',
    '{{ print 1 2 "a" "b" 3.5 true nil }}',
    '{{ print "a" 1 "b" }}',
    "{{ print }}",
    "{{ print $labels }}",
    '{{ println 1 2 "a" }}',
    "{{ println }}",
    "{{ printf }}",
    "{{ printf 1 }}",
    '{{ printf "%v" (args 1 "x") }}',
]
for _t in MISC_FORMATS:
    c("fmtm", _t, labels={"instance": "host:9100", "job": "node"}, value=12.345)

# ---- humanize family ---------------------------------------------------------------------------
for _v in [
    0.0,
    1.0,
    999.0,
    1000.0,
    1234567.0,
    1e21,
    1e27,
    1e30,
    0.001,
    0.0012345,
    1e-30,
    -1234.0,
    -0.5,
    123.456,
    0.999999,
    999999.0,
    math.nan,
    math.inf,
    -math.inf,
]:
    for _fn in ("humanize", "humanize1024", "humanizePercentage"):
        c("hum", f"{{{{ $value | {_fn} }}}}", value=_v)
for _arg in [
    '"1234"',
    "1234",
    '"abc"',
    '"1e400"',
    '"0x10"',
    '"1_000"',
    '"inf"',
    '"+Inf"',
    '"nan"',
    '"+nan"',
    '" 1"',
    "true",
    "nil",
    ".Labels",
    '"0x1p-2"',
    '"1e"',
    "1.5",
    '"-0"',
    '"Infinity"',
    '"infinit"',
    '"1__0"',
    '"_1"',
    '".5"',
    '"5."',
]:
    c("huma", f"{{{{ humanize {_arg} }}}}")
for _v in [
    0.0,
    0.000123,
    0.1,
    1.0,
    1.2345,
    12.345,
    59.99,
    60.0,
    61.5,
    3599.0,
    3600.0,
    86400.0,
    899.99,
    1234567.0,
    -1.0,
    -90061.0,
    1e-9,
    1e-12,
    1e-25,
    0.5,
    math.nan,
    math.inf,
    -0.25,
    172800.5,
]:
    c("humd", "{{ $value | humanizeDuration }}", value=_v)
c("humd", '{{ "43200" | humanizeDuration }}')
c("humd", '{{ humanizeDuration "abc" }}')
for _v in [
    0.0,
    1.0,
    -1.0,
    1435065584.128,
    1e9,
    1e10,
    9.3e9,
    -0.5,
    1.5,
    253402300799.0,
    math.nan,
    math.inf,
    1234567.891,
]:
    c("humt", "{{ $value | humanizeTimestamp }}", value=_v)
c("humt", '{{ humanizeTimestamp "1435065584.128" }}')
c("humt", "{{ toTime 1435065584.128 }}")
c("humt", "{{ (toTime 1435065584).Unix }}")
c("humt", '{{ (toTime 1435065584.5).Format "2006-01-02T15:04:05.000Z07:00" }}')
c("humt", '{{ (toTime 1435065584).Format "Mon Jan _2 15:04:05 MST 2006" }}')
c("humt", '{{ (toTime 1435065584).Format "January 2, 2006 3:04PM" }}')
c("humt", '{{ (toTime 1435065584.25).Format "15:04:05.999 .000 ,9" }}')
c("humt", "{{ (toTime 0).Year }}")
c("humt", "{{ toTime $value }}", value=math.nan)
c("humt", '{{ toTime "x" }}')
c("humt", "{{ with toTime 86400 }}{{ .UTC }}{{ end }}")

# ---- Prometheus functions ----------------------------------------------------------------------
FUNC_TEMPLATES = [
    "{{ toUpper $labels.a }}",
    "{{ toLower $labels.a }}",
    '{{ $labels.a | toUpper | printf "%q" }}',
    '{{ match "^prom.*" $labels.a }}',
    '{{ match "k8s" $labels.a }}',
    '{{ match "(" $labels.a }}',
    '{{ match "a**" $labels.a }}',
    '{{ if match "^prometheus" $labels.a }}yes{{ else }}no{{ end }}',
    '{{ reReplaceAll "(.*)-k8s-(\\\\d+)" "$1 #$2" $labels.a }}',
    '{{ reReplaceAll "o" "0" $labels.a }}',
    '{{ reReplaceAll "a*" "X" "baaac" }}',
    '{{ reReplaceAll "" "-" "abc" }}',
    '{{ reReplaceAll "(?P<first>\\\\w+)-(?P<rest>.*)" "${rest}/${first}" $labels.a }}',
    '{{ reReplaceAll "(\\\\w+)" "$1x|${1}x|$$1|$" "ab cd" }}',
    '{{ reReplaceAll "(a)(b)?" "[$2]" "ac" }}',
    '{{ reReplaceAll "[" "x" "abc" }}',
    '{{ reReplaceAll "(a" "x" "abc" }}',
    '{{ reReplaceAll "x\\\\" "y" "abc" }}',
    '{{ reReplaceAll "^" ">" "abc" }}',
    '{{ reReplaceAll "$" "<" "abc" }}',
    '{{ reReplaceAll "\\\\b" "|" "ab cd" }}',
    "{{ stripPort $labels.a }}",
    "{{ stripDomain $labels.a }}",
    "{{ graphLink $labels.a }}",
    "{{ tableLink $labels.a }}",
    "{{ safeHtml $labels.a }}",
    "{{ html $labels.a }}",
    "{{ js $labels.a }}",
    "{{ urlquery $labels.a }}",
    "{{ len $labels.a }}",
    "{{ slice $labels.a 1 3 }}",
    "{{ index $labels.a 0 }}",
]
FUNC_INPUTS = [
    "prometheus-k8s-0",
    "hello world",
    "node1.example.com:9100",
    "10.0.0.1:9100",
    "[fe80::1]:80",
    "::1",
    "a:b:c",
    "host.local",
    "Straße ÀÉÎ",
    "a<b>&\"c'd=e",
    'up{job="node"} > 0 and rate(x[5m])',
    "",
]
for _t in FUNC_TEMPLATES:
    for _in in FUNC_INPUTS:
        c("fn", _t, labels={"a": _in} if _in else {})

for _in, _v3 in [
    ("o'neil", "O'neil"),
    ("foo_bar baz", "Foo_bar Baz"),
    ("foo.bar", "Foo.bar"),
    ("123abc", "123Abc"),
    ("__init", "__Init"),
    ("hELLO wORLD", "HELLO WORLD"),
    ("foo-bar/baz", "Foo-Bar/Baz"),
    ("a..b", "A..B"),
    ("node1.example.com:9100", "Node1.example.com:9100"),
    ("a:b:c", "A:b:c"),
    ("host.local", "Host.local"),
    ("a<b>&\"c'd=e", "A<B>&\"C'd=E"),
    ("rate(x[5m])", "Rate(X[5M])"),
    ("prometheus-k8s-0", None),
    ("hello world", None),
    ("10.0.0.1:9100", None),
    ("[fe80::1]:80", None),
    ("Straße ÀÉÎ", None),
    ("élan vital", None),
    ("", None),
]:
    c(
        "title",
        "{{ title $labels.a }}",
        labels={"a": _in} if _in else {},
        v3=_v3,
        why=None
        if _v3 is None
        else "3.x title is x/text cases.Title (UAX #29 words), 2.42's strings.Title",
    )

_PDUR_V3 = {  # common/model 0.70's ParseDuration names the unit it does not know
    "1.5h": '"."',
    "5x": '"x"',
    "1h 30m": '"h "',
}
for _d in [
    "1h30m",
    "1.5h",
    "90s",
    "1d",
    "5x",
    "",
    "0",
    "1m1h",
    "1y2w3d4h5m6s7ms",
    "100ms",
    "1h 30m",
    "5m3",
]:
    _u = _PDUR_V3.get(_d)
    c(
        "pdur",
        f'{{{{ parseDuration "{_d}" }}}}',
        v3_sub=(f'not a valid duration string: "{_d}"', f'unknown unit {_u} in duration "{_d}"')
        if _u
        else None,
        why="3.x parses durations with common/model 0.70 (unit errors name the unit)"
        if _u
        else None,
    )
_NEG = "parseDuration accepts negative durations in 3.x"
c("pdur", '{{ parseDuration "-5m" }}', v3="-300", v3_only=True, why=_NEG)
c(
    "pdur",
    '{{ parseDuration "-" }}',
    v3="<error expanding template: error executing template {name}: template: {name}:1:115: "
    'executing "{name}" at <parseDuration "-">: error calling parseDuration: '
    "empty duration string>",
    v3_only=True,
    why=_NEG,
)

ARG_TEMPLATES = [
    '{{ $a := args 1 "x" 2.5 }}{{ $a.arg0 }}|{{ $a.arg1 }}|{{ $a.arg2 }}|{{ $a.arg5 }}',
    '{{ with args "x" }}{{ .arg0 }}{{ .arg1 }}{{ end }}',
    "{{ (args 1).arg0 }}",
    '{{ index (args 1 2) "arg1" }}',
    '{{ index (args 1 2) "nope" }}',
    "{{ len (args 1 2 3) }}",
    "{{ range $k, $v := args 3 4 }}{{ $k }}={{ $v }};{{ end }}",
]
for _t in ARG_TEMPLATES:
    c("args", _t)

QS = 'query "qdata" | sortByLabel "instance"'
QUERY_TEMPLATES = [
    "{{ range @Q }}{{ .Labels.instance }}={{ .Value }};{{ end }}",
    "{{ range $i, $s := @Q }}{{ $i }}:{{ $s.Labels.job }} {{ end }}",
    '{{ with query "qdata{job=\\"api\\"}" }}{{ . | first | value }}{{ end }}',
    '{{ query "sum(qdata)" | first | value | humanize }}',
    '{{ query "scalar(sum(qdata))" | first | value }}',
    '{{ with query "nothing_here" }}some{{ else }}none{{ end }}',
    '{{ query "nothing_here" | first }}',
    '{{ range @Q }}{{ label "instance" . }} {{ end }}',
    '{{ range sortByLabel "instance" (query "qdata") }}{{ .Labels.instance }} {{ end }}',
    "{{ (@Q | first).Labels.job }}",
    '{{ len (query "qdata") }}',
    "{{ index (@Q) 1 | value }}",
    '{{ range query "qdata{job=\\"api\\"} * 2" }}{{ .Labels }} {{ .Value }}{{ end }}',
    "{{ with first (@Q) }}{{ . }}{{ end }}",
    '{{ with first (@Q) }}{{ printf "%v" . }}{{ end }}',
    "{{ with first (@Q) }}{{ .Labels.__name__ }} {{ .Value | humanize }}{{ end }}",
    '{{ with first (@Q) }}{{ strvalue . }}|{{ label "nope" . }}{{ end }}',
    '{{ query "qdata{" }}',
    '{{ query "\\"a string\\"" }}',
    "{{ range $s := @Q }}{{ if gt $s.Value 2.0 }}{{ $s.Labels.instance }} {{ end }}{{ end }}",
    '{{ range @Q }}{{ if eq .Labels.job "node" }}{{ continue }}{{ end }}{{ .Value }}{{ end }}',
    "{{ range @Q }}{{ .Value }}{{ break }}{{ end }}",
    '{{ slice (query "qdata") 1 | len }}',
    '{{ first (query "qdata") | printf "%T" }}',
    '{{ query "qdata" | printf "%T" }}',
    '{{ value (query "qdata") }}',
    '{{ label "x" nil }}',
]
for _t in QUERY_TEMPLATES:
    c("query", _t.replace("@Q", QS), labels={"x": "qdata"})

# ---- the template language ---------------------------------------------------------------------
L = {"instance": "host-1:9100", "job": "node", "severity": "critical", "empty": "", "n": "5"}
LANG_TEMPLATES = [
    "plain text, no actions",
    "{{/* a comment */}}after",
    "a {{- /* trimmed comment */ -}} b",
    "a  {{- $labels.job -}}  b",
    "a\n\t{{- $labels.job }}\n",
    "{{ $labels.job -}}\n\n  end",
    "{{- $labels.job -}}",
    "{{ -3 }}",
    "{{ $labels.instance }}",
    "{{ .Labels.instance }}",
    "{{ $.Labels.instance }}",
    "{{ .Labels.missing }}|",
    "{{ $labels.missing }}|",
    "{{ .ExternalLabels.cluster }}|",
    "{{ .ExternalURL }}|",
    "{{ $externalURL }}|",
    "{{ $externalLabels.region }}|",
    "{{ . }}",
    "{{ .Labels }}",
    "{{ $ }}",
    "{{ .Value }}",
    "{{ $value }}",
    "{{ \"string\" }} {{ `raw\\n` }} {{ 1.5 }} {{ 42 }} {{ true }} {{ 'x' }}",
    '{{ "a\\tb\\x41\\u00e9\\U0001F600\\101" }}',
    "{{ 1e3 }} {{ 0x1F }} {{ 1_000 }} {{ 0b101 }} {{ 0o17 }} {{ 017 }} {{ -0 }} {{ 1e-2 }}",
    "{{ 0x1p-2 }} {{ 1.0 }} {{ 08.5 }} {{ .5 }} {{ +3 }}",
    "{{ $x := 1 }}{{ $x }}{{ $x = 2 }}{{ $x }}",
    '{{ $x := $labels.job }}{{ if true }}{{ $x = "inner" }}{{ end }}{{ $x }}',
    "{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}",
    "{{ if $labels.job }}has job{{ end }}",
    "{{ if $labels.missing }}yes{{ else }}no{{ end }}",
    "{{ if $labels.empty }}yes{{ else if $labels.job }}job{{ else }}none{{ end }}",
    '{{ if eq $labels.severity "critical" }}CRIT{{ else if eq $labels.severity "warning" }}WARN{{ end }}',
    "{{ if $value }}nonzero{{ else }}zero{{ end }}",
    "{{ if .Labels }}labels{{ end }}",
    '{{ if 0 }}a{{ else }}b{{ end }}{{ if 0.0 }}a{{ else }}b{{ end }}{{ if "" }}a{{ else }}b{{ end }}',
    "{{ if nil }}a{{ else }}b{{ end }}",
    "{{ with $labels.job }}job={{ . }}{{ end }}",
    "{{ with $labels.missing }}job={{ . }}{{ else }}no job{{ end }}",
    "{{ with $labels.cluster -}} on cluster {{ . }} {{- end }}",
    "{{ with .Labels }}{{ .instance }}{{ end }}",
    "{{ range $labels }}{{ . }},{{ end }}",
    "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
    "{{ range $v := $labels }}{{ $v }};{{ end }}",
    "{{ range $k, $v := .ExternalLabels }}{{ $k }}{{ else }}no external labels{{ end }}",
    '{{ range $i, $c := "abc" }}{{ $i }}{{ end }}',
    "{{ range $value }}x{{ end }}",
    '{{ range $k, $v := $labels }}{{ if eq $k "job" }}{{ break }}{{ end }}{{ $k }};{{ end }}',
    '{{ range $k, $v := $labels }}{{ if eq $k "job" }}{{ continue }}{{ end }}{{ $k }};{{ end }}',
    "{{ $n := 0 }}{{ range $labels }}{{ $n = len . }}{{ end }}{{ $n }}",
    '{{ range $i, $e := (args "a" "b") }}{{ $i }}{{ $e }}{{ end }}',
    '{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" $labels.job }}',
    '{{ define "x" }}[{{ .job }}]{{ end }}{{ template "x" .Labels }}',
    '{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" }}',
    '{{ template "nope" }}',
    '{{ block "b" $labels.job }}<{{ . }}>{{ end }}',
    '{{ define "x" }}{{ $labels }}{{ end }}',
    '{{ define "r" }}{{ if . }}{{ len . }}{{ template "r" (slice . 1) }}{{ end }}{{ end }}{{ template "r" "abc" }}',
    '{{ define "e" }}{{ .nope.x }}{{ end }}{{ template "e" 1 }}',
    '{{ (1) }} {{ (print 1 2) }} {{ ("x") }}',
    "{{ (.Labels).job }} {{ ($labels).instance }}",
    '{{ $labels.job | printf "%s-%s" "prefix" }}',
    '{{ $value | printf "%.1f" | printf "[%s]" }}',
    '{{ and 1 0 "x" }} {{ and 1 2 }} {{ or 0 "" nil }} {{ or 0 "x" 1 }} {{ not 0 }} {{ not "x" }}',
    '{{ and $labels.job $labels.instance }} {{ or $labels.missing "default" }}',
    '{{ if and $labels.job (eq $labels.severity "critical") }}both{{ end }}',
    "{{ and }}",
    "{{ $value | and 1 }} {{ $value | or 0 }}",
    '{{ eq 1 1 }} {{ eq 1 2 }} {{ eq 1 2 1 }} {{ ne 1 2 }} {{ eq "a" "a" }} {{ eq true true }}',
    '{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 2.5 }} {{ ge "b" "a" }} {{ lt $value 100.0 }}',
    "{{ eq $value 12.5 }} {{ gt $value 10.0 }} {{ le $value 12.5 }}",
    '{{ eq $labels.missing "" }} {{ eq .Labels.n "5" }}',
    "{{ eq $value 12 }}",
    "{{ gt $value 10 }}",
    '{{ lt 1 "a" }}',
    "{{ lt true false }}",
    "{{ eq }}",
    "{{ eq 1 }}",
    "{{ eq .Labels .Labels }}",
    "{{ eq nil nil }}",
    "{{ lt nil 1 }}",
    '{{ eq 1.5 "x" 1.5 }}',
    '{{ len $labels }} {{ len "héllo" }} {{ len .ExternalLabels }}',
    "{{ len 3 }}",
    "{{ len $labels.missing }}",
    '{{ index $labels "job" }}|{{ index $labels "missing" }}|{{ index .Labels "n" }}',
    '{{ index "abc" 1 }} {{ index "abc" 1 | printf "%c" }}',
    '{{ index "abc" 3 }}',
    '{{ index "abc" 5 }}',
    '{{ index "abc" -1 }}',
    "{{ index $labels 1 }}",
    "{{ index 3 1 }}",
    "{{ index $labels }}",
    "{{ index nil 1 }}",
    '{{ slice "abcdef" 1 3 }} {{ slice "abcdef" 2 }} {{ slice "abcdef" }}',
    '{{ slice "abc" 2 1 }}',
    '{{ slice "abc" 1 2 3 }}',
    '{{ slice "abc" 0 9 }}',
    "{{ slice 3 1 }}",
    '{{ html "<b>&" 1 "x" }} {{ js "it\'s" }} {{ urlquery "a b&c" 2 }}',
    "{{ html .Labels.missing }} {{ js nil }} {{ urlquery }}",
    "{{ call $labels.job }}",
    "{{ call nil }}",
    "{{ nil }}",
    "{{ 1 2 }}",
    "{{ $labels.job 1 }}",
    "{{ .Labels.job.x }}",
    "{{ $labels.job.x }}",
    "{{ .Value.x }}",
    "{{ $value.x }}",
    "{{ .Nope }}",
    '{{ .Labels.job | len | printf "%d" }}',
    "{{ humanize }}",
    "{{ humanize 1 2 }}",
    "{{ toUpper 1 }}",
    "{{ toUpper $value }}",
    "{{ toUpper .Labels }}",
    "{{ toUpper nil }}",
    "{{ toUpper .Labels.missing }}",
    '{{ title (safeHtml "x") }}',
    '{{ humanize (safeHtml "1") }}',
    '{{ "x" | printf }}',
    '{{ 1 | printf "%d" }}',
    '{{ $labels.job | eq "node" }}',
    "{{ 9223372036854775807 }} {{ -9223372036854775808 }}",
    "{{ 9223372036854775808 }}",
    '{{ printf "%d" 18446744073709551615 }}',
    "{{ 1e400 }}",
    "{{ 'ab }}",
    '{{ .Labels.job | printf "%v" | len }}',
    "multi\nline {{ $labels.job }}\n  {{ .Nope }}",
    "ünïcödé {{ .Nope }}",
    "{{ $labels.job }}\r\n{{ $labels.instance }}",
    "{{ (args .Labels).arg0.job }}",
    '{{ (index (args $labels) "arg0").job }}',
]
_CMP = "incompatible types for comparison>"
_CMP_WHY = "Go 1.2x names the types in comparison errors"
LANG_V3 = {
    "{{ eq $value 12 }}": (_CMP, _CMP[:-1] + ": float64 and int>", _CMP_WHY),
    "{{ gt $value 10 }}": (_CMP, _CMP[:-1] + ": float64 and int>", _CMP_WHY),
    '{{ lt 1 "a" }}': (_CMP, _CMP[:-1] + ": int and string>", _CMP_WHY),
    '{{ eq 1.5 "x" 1.5 }}': (_CMP, _CMP[:-1] + ": float64 and string>", _CMP_WHY),
    "{{ call $labels.job }}": (
        "non-function of type",
        "non-function $labels.job of type",
        "Go 1.2x names the callee of call",
    ),
    "{{ .Value.x }}": (
        "in type float64>",
        "in type interface {}>",
        "AlertTemplateData.Value is `any` in 3.x (float64 in 2.42)",
    ),
}
for _t in LANG_TEMPLATES:
    _sub = LANG_V3.get(_t)
    c(
        "lang",
        _t,
        labels=L,
        value=12.5,
        v3_sub=_sub[:2] if _sub else None,
        why=_sub[2] if _sub else None,
    )
for _t in [
    "{{ .ExternalLabels.cluster }}|{{ $externalURL }}|{{ .ExternalURL }}",
    "{{ range $k, $v := $externalLabels }}{{ $k }}={{ $v }},{{ end }}",
    '{{ printf "%v" . }}',
    "{{ $externalLabels }}",
]:
    c("ext", _t, labels=L, ext=True)

# Go 1.22+ / Prometheus 3.x only: promtool 2.42 (Go 1.19) rejects or renders these otherwise.
V3_ONLY = [
    ("{{ range 3 }}{{ . }}{{ end }}", "012", "range over an int is Go 1.22"),
    ("{{ range $i := 3 }}{{ $i }}{{ end }}", "012", "range over an int is Go 1.22"),
    ("{{ range 0 }}x{{ else }}empty{{ end }}", "empty", "range over an int is Go 1.22"),
    (
        "{{ range $i, $v := 2 }}{{ end }}",
        "<error expanding template: error executing template {name}: template: {name}:1:131: "
        'executing "{name}" at <2>: can\'t use 2 to iterate over more than one variable>',
        "range over an int is Go 1.22",
    ),
    (
        "{{ with $labels.missing }}a{{ else with $labels.job }}{{ . }}{{ end }}",
        "node",
        "{{else with}} is Go 1.23",
    ),
    ("{{ now }}", "60", "now is Prometheus 3.x"),
    ("{{ now | humanizeTimestamp }}", "1970-01-01 00:01:00 +0000 UTC", "now is Prometheus 3.x"),
    ('{{ urlQueryEscape "a b&c/d" }}', "a+b%26c%2Fd", "urlQueryEscape is Prometheus 3.x"),
    ("{{ toDuration 90 }}", "1m30s", "toDuration is Prometheus 3.x"),
    ("{{ toDuration 0.0015 }}", "1.5ms", "toDuration is Prometheus 3.x"),
    ("{{ toDuration 3661.5 }}", "1h1m1.5s", "toDuration is Prometheus 3.x"),
    ("{{ toDuration 0.0000005 }}", "500ns", "toDuration is Prometheus 3.x"),
    ("{{ toDuration 0.0000123 }}", "12.3µs", "toDuration is Prometheus 3.x"),
    ("{{ toDuration -2 }}", "-2s", "toDuration is Prometheus 3.x"),
    ("{{ (toDuration 90).Seconds }}", "90", "toDuration is Prometheus 3.x"),
    ("{{ (toDuration 5400).Hours }}", "1.5", "toDuration is Prometheus 3.x"),
    (
        "{{ humanizeDuration (toDuration 90) }}",
        "<error expanding template: error executing template {name}: template: {name}:1:115: "
        'executing "{name}" at <humanizeDuration (toDuration 90)>: error calling '
        "humanizeDuration: can't convert *time.Duration to float>",
        "toDuration is Prometheus 3.x",
    ),
    ("{{ externalURL }}", "http://prom.example.com:9090/prom", "promtool 2.42 has no URL"),
    ("{{ pathPrefix }}", "/prom", "promtool 2.42 has no URL"),
]
for _t, _want, _why in V3_ONLY:
    c("v3", _t, labels=L, ext=True, v3=_want, why=_why, v3_only=True)

# ---- parse errors (promtool check rules) -------------------------------------------------------
PARSE_ERRORS = [
    "{{ foo }}",
    "{{ if }}\n{{ end",
    "{{ .x }",
    "{{ .x ",
    "{{ if .x }}no end",
    "{{ end }}",
    "{{ else }}",
    "{{ $undefined }}",
    "{{ 1a }}",
    '{{ "unterminated }}',
    "{{ `raw }}",
    "{{ .X | 1 }}",
    '{{ .X | "s" }}',
    "{{ range $a, $b, $c := . }}{{ end }}",
    "{{ range $a, 1 := . }}{{ end }}",
    "{{ $a, $b := 1 }}",
    "{{ break }}",
    "{{ continue }}",
    "{{ if true }}{{ break }}{{ end }}",
    '{{ define "x" }}no end',
    "{{ define x }}{{ end }}",
    '{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}',
    "{{/* unclosed comment }}",
    "{{/* comment */ x }}",
    "{{ ( }}",
    "{{ ) }}",
    "{{ (1 }}",
    "{{ 'ab' }}",
    "{{ '' }}",
    "{{ .Foo.bar baz }}",
    "{{ $x := }}",
    "{{ template x }}",
    "{{ template }}",
    "{{ with }}{{ end }}",
    "{{ range }}{{ end }}",
    "{{ 99999999999999999999 }}",
    "{{ @ }}",
    "{{ .a@ }}",
    "{{ $x@ }}",
    "{{ é }}",
    "line 1\nline 2\n{{ nope }}",
    "line 1 {{ if true }}\nline 2\n{{ else }}{{ else }}{{ end }}",
    "{{ if true }}\n\n{{ end }}{{ end }}",
    "{{ .X\n}}",
    '{{ "a\nb" }}',
    "{{ .x | }}",
    "{{ | .x }}",
    "{{ 1 := 2 }}",
    "{{ $x : = 1 }}",
    "{{ .x.1 }}",
    '{{ "a".x }}',
    "{{ nil.x }}",
    "{{ $x = 1 }}",
    "{{ else if }}",
    "{{ if true }}{{ else if }}{{ end }}",
    "{{ if true }}{{ else }}{{ else if true }}{{ end }}",
    "{{ with $x := 1 }}{{ end }}{{ $x }}",
    "{{ range .x }}{{ else }}{{ break }}{{ end }}",
    '{{ block "b" }}{{ end }}',
    "{{ 1.2.3 }}",
    "{{ 0x }}",
    "{{ 1i }}",
    '{{ printf "%d" "\\q" }}',
    "{{ `a` `b` }}{{ nope }}",
    "{{\n  if true\n}}x{{ nope\n}}",
    "{{- nope -}}",
    "{{-3}}",
    "{{ - }}",
]
for _t in PARSE_ERRORS:
    if _t == "{{ ) }}":
        c(
            "perr",
            _t,
            parse_error=True,
            v3_sub=('unexpected ")" in command', "unexpected right paren"),
            why="Go 1.2x's lexer reports a stray ) before emitting it",
        )
    else:
        c("perr", _t, parse_error=True)
c(
    "perr",
    "{{ with $labels.job }}{{ else with $labels.x }}{{ end }}",
    parse_error=True,
    v3="",
    why="{{else with}} is Go 1.23: 3.x parses it",
)


# ---- real rule files: every annotation of the kubernetes-mixin alerts (both versions) ----------
def mixin_templates(shared: Path) -> list[tuple[str, str]]:
    """(alert name, annotation template) for every annotation of the mixin rule files."""
    out: list[tuple[str, str]] = []
    base = shared / "conformance" / "rules" / "kubernetes-mixin"
    for path in (base / "prometheus_alerts.yaml", base / "prom2-era" / "prometheus_alerts.yaml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            for rule in group["rules"]:
                for text in (rule.get("annotations") or {}).values():
                    if "{{" in text and (rule["alert"], text) not in out:
                        out.append((rule["alert"], text))
    return out


MIXIN_LABELS = [
    {
        "namespace": "kube-system",
        "pod": "coredns-5d78c9869d-abcde",
        "container": "coredns",
        "node": "worker-1",
        "cluster": "prod-eu",
        "job": "kube-state-metrics",
        "instance": "10.0.0.1:8080",
        "deployment": "coredns",
        "statefulset": "web",
        "daemonset": "node-exporter",
        "persistentvolumeclaim": "data-0",
        "persistentvolume": "pv-1",
        "resource": "cpu",
        "reason": "CrashLoopBackOff",
        "job_name": "backup",
        "horizontalpodautoscaler": "api",
        "phase": "Pending",
        "name": "kubelet",
        "condition": "MemoryPressure",
        "poddisruptionbudget": "pdb",
        "eviction_signal": "memory.available",
    },
    {"namespace": "default", "pod": "app-0"},
]
MIXIN_VALUES = [0.8734, 3.0, 123456.0, 0.0]

# Styles of other widely used mixins (node-exporter, etcd, Alertmanager, Prometheus, Thanos).
STYLE_TEMPLATES = [
    'Filesystem on {{ $labels.device }}, mounted on {{ $labels.mountpoint }}, at {{ $labels.instance }} has only {{ printf "%.2f" $value }}% available space left.',
    '{{ $labels.instance }} interface {{ $labels.device }} has encountered {{ printf "%.0f" $value }} receive errors in the last two minutes.',
    'Memory is filling up at {{ $labels.instance }}, has only {{ printf "%.2f" $value }}% left.',
    "Clock at {{ $labels.instance }} is out of sync by more than 0.05s. Ensure NTP is configured correctly on this host.",
    'System load per core at {{ $labels.instance }} has been above 2 for the last 15 minutes, is currently at {{ printf "%.2f" $value }}.',
    'etcd cluster "{{ $labels.job }}": member communication with {{ $labels.To }} is failing ({{ $value }}% of requests).',
    'etcd cluster "{{ $labels.job }}": {{ $value }}% of requests for {{ $labels.grpc_method }} failed on etcd instance {{ $labels.instance }}.',
    'etcd cluster "{{ $labels.job }}": 99th percentile fsync durations are {{ $value }}s on etcd instance {{ $labels.instance }}.',
    "Configuration has failed to load for {{ $labels.namespace }}/{{ $labels.pod}}.",
    "Alertmanager {{ $labels.namespace }}/{{ $labels.pod}} failed to send {{ $value | humanizePercentage }} of notifications to {{ $labels.integration }}.",
    "{{ $value }} type '{{ $labels.integration }}' integrations in Alertmanager cluster {{ $labels.job}} failed.",
    'Prometheus {{$labels.namespace}}/{{$labels.pod}} has failed to evaluate {{ printf "%.0f" $value }} rules in the last 5m.',
    'Prometheus {{$labels.namespace}}/{{$labels.pod}} is running {{ printf "%.0f" $value }} queries, {{ $value | humanizePercentage }} of the max.',
    '{{ printf "%.1f" $value }}% errors while sending alerts from Prometheus {{$labels.namespace}}/{{$labels.pod}} to Alertmanager {{$labels.alertmanager}}.',
    'Prometheus {{$labels.namespace}}/{{$labels.pod}} remote write is {{ printf "%.1f" $value }}s behind for {{ $labels.remote_name}}:{{ $labels.url }}.',
    "Thanos Query {{$labels.job}}{{ if $labels.cluster }} in {{$labels.cluster}}{{ end }} is failing to handle {{$value | humanize}}% of requests.",
    "Disk {{ $labels.device }} on {{ $labels.instance }} will fill in {{ $value | humanizeDuration }}.",
    '{{ with query "qdata{job=\\"api\\"}" }}{{ . | first | value | humanize }}{{ end }} series at {{ $labels.instance }}',
    "Certificate for {{ $labels.instance }} expires in {{ $value | humanizeDuration }} ({{ $value | humanizeTimestamp }}).",
    "{{ $labels.instance | stripPort }} ({{ $labels.instance | stripDomain }}): {{ $value | humanize1024 }}B free",
    "{{ range $k, $v := $labels }}{{ $k }}: {{ $v }}\n{{ end }}",
    '{{ if gt $value 80.0 }}critical{{ else if gt $value 50.0 }}warning{{ else }}ok{{ end }}: {{ printf "%.1f" $value }}%',
]
STYLE_LABELS = {
    "instance": "node-3.prod.example.com:9100",
    "device": "eth0",
    "mountpoint": "/var/lib",
    "job": "etcd",
    "To": "etcd-2",
    "grpc_method": "Range",
    "namespace": "monitoring",
    "pod": "alertmanager-main-0",
    "integration": "slack",
    "alertmanager": "http://10.0.0.5:9093/api/v2/alerts",
    "remote_name": "thanos",
    "url": "http://thanos-receive:19291/api/v1/receive",
}
for _t in STYLE_TEMPLATES:
    for _v in (87.654, 0.0123, 12345.0):
        c("style", _t, labels=STYLE_LABELS, value=_v)
