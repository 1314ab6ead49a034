import t from 'tap';
import { renderTemplate, formatList, defaultHeader, printValue, sprintf, ERR_TEMPLATE } from '../../cli/kit/format';
import { cliExitCodeOf, type BerthError } from '../../core/errors';

const c = {
  ID: '0123456789ab',
  Names: 'web',
  Image: 'busybox:latest',
  Labels: { 'com.example.role': 'db', tier: 'back' },
  Ports: ['80/tcp', '443/tcp'],
  Config: { Env: ['A=1', 'B=2'], User: '' },
  Size: 1024,
  Ratio: 1.5,
  Running: false,
  Nothing: null as unknown,
};

t.test('fields, nesting, literals', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['{{.ID}}', c, '0123456789ab'],
    ['{{.Config.Env}}', c, '[A=1 B=2]'],
    ['{{.Config.User}}|', c, '|'],
    ['{{.}}', 'plain', 'plain'],
    ['id={{ .ID }} name={{.Names}}', c, 'id=0123456789ab name=web'],
    ['{{.Size}} {{.Ratio}} {{.Running}}', c, '1024 1.5 false'],
    ['{{.Nothing}}', c, '<nil>'],
    ['{{"lit"}} {{42}} {{true}}', c, 'lit 42 true'],
    // Docker replaces the two characters \n everywhere before parsing, even inside raw strings.
    ['{{`raw\\n`}}', c, 'raw\n'],
    ['a\\tb\\nc', c, 'a\tb\nc'],
    ['{{/* a comment */}}x', c, 'x'],
    ['a  {{- .Names -}}  b', c, 'awebb'],
    ['{{$.Names}}', c, 'web'],
  ];
  for (const [tpl, data, want] of cases) t.equal(renderTemplate(tpl, data), want, tpl);
});

t.test('json', async (t) => {
  t.equal(renderTemplate('{{json .Labels}}', c), '{"com.example.role":"db","tier":"back"}');
  t.equal(renderTemplate('{{json .Ports}}', c), '["80/tcp","443/tcp"]');
  t.equal(renderTemplate('{{json .Config.User}}', c), '""');
  t.equal(renderTemplate('{{json .}}', { A: '<&>', B: null }), '{"A":"<&>","B":null}', 'no HTML escaping, like Docker');
  t.equal(renderTemplate('{{json .}}', new Map([['b', 1], ['a', 2]])), '{"a":2,"b":1}', 'maps are encoded with sorted keys');
  class Ctx {
    constructor(private readonly raw: { id: string }) {}
    get ID(): string {
      return this.raw.id.slice(0, 3);
    }
    get Upper(): string {
      return this.raw.id.toUpperCase();
    }
  }
  t.equal(renderTemplate('{{json .}}', new Ctx({ id: 'abcdef' })), '{"raw":{"id":"abcdef"},"ID":"abc","Upper":"ABCDEF"}', 'getters of context classes are encoded');
  t.equal(renderTemplate('{{.ID}}', new Ctx({ id: 'abcdef' })), 'abc', 'getters are fields');
});

t.test('functions', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['{{index .Labels "com.example.role"}}', c, 'db'],
    ['{{index .Labels "missing"}}|', c, '|'],
    ['{{index .Ports 1}}', c, '443/tcp'],
    ['{{lower "ABC"}} {{upper .Names}} {{title "hello big world"}}', c, 'abc WEB Hello Big World'],
    ['{{join .Ports ","}}', c, '80/tcp,443/tcp'],
    ['{{join (split "a:b:c" ":") "-"}}', c, 'a-b-c'],
    ['{{.Names | upper}}', c, 'WEB'],
    ['{{truncate .Image 7}}|{{truncate "ab" 5}}|{{7 | printf "%d"}}', c, 'busybox|ab|7'],
    ['[{{pad .Names 1 2}}][{{pad "" 1 2}}]', c, '[ web  ][]'],
    ['{{printf "%s:%d" .Names .Size}}', c, 'web:1024'],
    ['{{printf "%-6s|%5d|%05d|%.2f|%q|%v|%x|%t%%" "ab" 42 42 3.14159 "q" .Ports 255 true}}', c, 'ab    |   42|00042|3.14|"q"|[80/tcp 443/tcp]|ff|true%'],
    ['{{len .Ports}} {{len .Names}} {{len .Labels}}', c, '2 3 2'],
    ['{{if eq .Names "web" "db"}}y{{end}}{{if ne .Size 1}}n{{end}}{{if lt 1 2}}l{{end}}{{if ge 2 2}}g{{end}}', c, 'ynlg'],
    ['{{if and .Names .Running}}a{{else}}b{{end}}{{or .Running .Names}}{{not .Running}}', c, 'bwebtrue'],
    ['{{print "a" 1 2 "b"}}', c, 'a1 2b'],
    ['{{println "a" 1}}', c, 'a 1\n'],
  ];
  for (const [tpl, data, want] of cases) t.equal(renderTemplate(tpl, data), want, tpl);
});

t.test('methods with arguments, like {{.Label "k"}}', async (t) => {
  const ctx = {
    labels: { a: 'x' } as Record<string, string>,
    Label(name: string): string {
      return this.labels[name] ?? '';
    },
    Now(): string {
      return 'called';
    },
  };
  t.equal(renderTemplate('{{.Label "a"}}/{{.Label "b"}}/{{.Now}}', ctx), 'x//called');
});

t.test('control flow', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['{{if .Running}}up{{else}}down{{end}}', c, 'down'],
    ['{{if .Running}}up{{else if .Names}}named{{else}}none{{end}}', c, 'named'],
    ['{{if .Config.User}}u{{else}}no user{{end}}', c, 'no user'],
    ['{{if .Ports}}ports{{end}}', c, 'ports'],
    ['{{if .Config}}obj{{end}}', c, 'obj'],
    ['{{range .Ports}}<{{.}}>{{end}}', c, '<80/tcp><443/tcp>'],
    ['{{range $i, $p := .Ports}}{{$i}}={{$p}} {{end}}', c, '0=80/tcp 1=443/tcp '],
    ['{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}', c, 'com.example.role:db;tier:back;'],
    ['{{range .Config.Env}}{{.}},{{end}}', c, 'A=1,B=2,'],
    ['{{range .Nothing}}x{{else}}empty{{end}}', c, 'empty'],
    ['{{range .Ports}}{{$.Names}}{{end}}', c, 'webweb'],
    ['{{with .Config}}{{.Env}}{{end}}', c, '[A=1 B=2]'],
    ['{{with .Config.User}}{{.}}{{else}}root{{end}}', c, 'root'],
    ['{{$n := .Names}}{{range .Ports}}{{$n}}{{end}}', c, 'webweb'],
    ['{{$n := 1}}{{$n = 2}}{{$n}}', c, '2'],
    ['{{range .Ports -}}\n  {{.}}\n{{- end}}', c, '80/tcp443/tcp'],
  ];
  for (const [tpl, data, want] of cases) t.equal(renderTemplate(tpl, data), want, tpl);
});

t.test('Map values behave like Go maps', async (t) => {
  const m = new Map<string, unknown>([['a', 1]]);
  t.equal(renderTemplate('{{.a}} {{.missing}}', m), '1 <no value>');
  t.equal(printValue(new Map([['b', 2], ['a', 1]])), 'map[a:1 b:2]');
  t.equal(printValue({ x: 1, y: 'z' }), '{1 z}');
  t.equal(printValue(new Date(Date.UTC(2024, 0, 2, 3, 4, 5))), '2024-01-02 03:04:05 +0000 UTC');
  t.equal(printValue(1e-7), '1e-07');
  t.equal(printValue(1234567.5), '1.2345675e+06');
});

t.test('errors are Docker-worded ERR_CLI_TEMPLATE', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['{{.Foo}}', c, 'template parsing error: template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type object'],
    ['ab\n  {{.Config.Nope}}', c, 'template parsing error: template: :2:4: executing "" at <.Config.Nope>: can\'t evaluate field Nope in type object'],
    ['{{.Names.Len}}', c, 'template parsing error: template: :1:2: executing "" at <.Names.Len>: can\'t evaluate field Len in type string'],
    ['{{foo .}}', c, 'template parsing error: template: :1: function "foo" not defined'],
    ['{{.ID', c, 'template parsing error: template: :1: unclosed action'],
    ['{{if .ID}}x', c, 'template parsing error: template: :1: unexpected EOF'],
    ['{{end}}', c, 'template parsing error: template: :1: unexpected {{end}}'],
    ['{{upper .Size}}', c, 'template parsing error: template: :1:2: executing "" at <upper>: error calling upper: wrong type for value; expected string; got int'],
    // A piped value is the last argument, so this calls truncate(7, .Image), as in Go.
    ['{{.Image | truncate 7}}', c, 'template parsing error: template: :1:11: executing "" at <truncate>: error calling truncate: wrong type for value; expected string; got int'],
    ['{{index .Ports 5}}', c, 'template parsing error: template: :1:2: executing "" at <index>: error calling index: index out of range: 5'],
  ];
  for (const [tpl, data, want] of cases) {
    const err = t.throws(() => renderTemplate(tpl, data), tpl) as BerthError;
    t.ok(ERR_TEMPLATE.is(err), `${tpl}: ERR_CLI_TEMPLATE`);
    t.equal(err.message, want, tpl);
    t.equal(cliExitCodeOf(err), 1, 'exit 1 like docker');
  }
});

t.test('sprintf reports missing and extra arguments like Go', async (t) => {
  t.equal(sprintf('%s %s', ['a']), 'a %!s(MISSING)');
  t.equal(sprintf('%s', ['a', 1]), 'a%!(EXTRA int=1)');
  t.equal(sprintf('%d', ['x']), '%!d(string=x)');
});

t.test('defaultHeader', async (t) => {
  t.equal(defaultHeader('CreatedAt'), 'CREATED AT');
  t.equal(defaultHeader('ID'), 'ID');
  t.equal(defaultHeader('LocalVolumes'), 'LOCAL VOLUMES');
  t.equal(defaultHeader('HTTPPort'), 'HTTP PORT');
  t.equal(defaultHeader('Names'), 'NAMES');
});

const containers = [
  { ID: '0123456789ab', Image: 'busybox', Command: '"sh"', Status: 'Up 5 minutes', Names: 'web', Labels: { a: '1' } },
  { ID: 'ba9876543210', Image: 'nginx:latest', Command: '"nginx -g …"', Status: 'Exited (0) 2 hours ago', Names: 'proxy', Labels: {} },
];
const DEFAULT = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Status}}\t{{.Names}}';
const HEADERS = { ID: 'CONTAINER ID' };

t.test('formatList default table', async (t) => {
  t.equal(
    formatList(containers, { defaultTableFormat: DEFAULT, headers: HEADERS }),
    'CONTAINER ID   IMAGE          COMMAND        STATUS                   NAMES\n' +
      '0123456789ab   busybox        "sh"           Up 5 minutes             web\n' +
      'ba9876543210   nginx:latest   "nginx -g …"   Exited (0) 2 hours ago   proxy\n',
  );
  t.equal(formatList(containers, { format: 'table', defaultTableFormat: DEFAULT, headers: HEADERS }), formatList(containers, { defaultTableFormat: DEFAULT, headers: HEADERS }), '`table` alone is the default');
  t.equal(formatList([], { defaultTableFormat: DEFAULT, headers: HEADERS }), 'CONTAINER ID   IMAGE     COMMAND   STATUS    NAMES\n', 'header even when empty, min width 10');
});

t.test('formatList custom table with escapes and header functions', async (t) => {
  t.equal(
    formatList(containers, { format: 'table {{.Names}}\\t{{upper .Image}}', defaultTableFormat: DEFAULT, headers: HEADERS }),
    'NAMES     IMAGE\n' + 'web       BUSYBOX\n' + 'proxy     NGINX:LATEST\n',
    'upper is a pass-through in the header, as Docker\'s HeaderFunctions',
  );
  t.equal(
    formatList(containers, { format: 'table {{.ID}}\t{{json .Labels}}', defaultTableFormat: DEFAULT, headers: HEADERS }),
    'CONTAINER ID   LABELS\n' + '0123456789ab   {"a":"1"}\n' + 'ba9876543210   {}\n',
  );
});

t.test('formatList plain template, json, quiet', async (t) => {
  t.equal(formatList(containers, { format: '{{.Names}}: {{.Status}}', defaultTableFormat: DEFAULT }), 'web: Up 5 minutes\nproxy: Exited (0) 2 hours ago\n');
  t.equal(formatList(containers, { format: '  {{.Names}}  ', defaultTableFormat: DEFAULT }), 'web\nproxy\n', 'spaces around the format are trimmed');
  t.equal(formatList([], { format: '{{.Names}}', defaultTableFormat: DEFAULT }), '');
  const json = formatList(containers, { format: 'json', defaultTableFormat: DEFAULT });
  const lines = json.trimEnd().split('\n');
  t.equal(lines.length, 2);
  t.same(JSON.parse(lines[0] as string), containers[0]);
  t.equal(formatList(containers, { quiet: true, defaultTableFormat: DEFAULT }), '0123456789ab\nba9876543210\n');
  t.equal(formatList(containers, { quiet: true, quietField: 'Names', format: '{{.Image}}', defaultTableFormat: DEFAULT }), 'web\nproxy\n', 'quiet wins over --format');
  t.throws(() => formatList(containers, { format: '{{.Nope}}', defaultTableFormat: DEFAULT }), { code: 'ERR_CLI_TEMPLATE' });
});
