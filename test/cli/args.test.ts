/**
 * Table tests of the argument parser against Docker's (pflag/cobra) behaviour. The command specs
 * below mirror the flags Docker declares for these commands (a subset where the rest adds nothing).
 */
import t from 'tap';
import { parseArgs, parseGlobal, renderHelp, type CommandSpec, type FlagSpec } from '../../cli/kit/args';
import { ERR_USAGE, cliExitCodeOf, BerthError } from '../../core/errors';

const f = (name: string, type: FlagSpec['type'], short?: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({
  name,
  type,
  description: `the ${name} flag`,
  ...(short !== undefined ? { short } : {}),
  ...extra,
});

const RUN: CommandSpec = {
  name: 'run',
  usage: 'berth run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  interspersed: false,
  args: { min: 1 },
  flags: [
    f('interactive', 'bool', 'i'),
    f('tty', 'bool', 't'),
    f('detach', 'bool', 'd'),
    f('rm', 'bool'),
    f('name', 'string'),
    f('publish', 'list', 'p'),
    f('env', 'list', 'e'),
    f('volume', 'list', 'v'),
    f('hostname', 'string', 'h'),
    f('workdir', 'string', 'w'),
    f('memory-swappiness', 'number', undefined, { default: -1 }),
    f('user', 'string', 'u'),
  ],
};
const EXEC: CommandSpec = {
  name: 'exec',
  usage: 'berth exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  description: 'Execute a command in a running container',
  interspersed: false,
  args: { min: 2 },
  flags: [f('interactive', 'bool', 'i'), f('tty', 'bool', 't'), f('detach', 'bool', 'd'), f('env', 'list', 'e'), f('user', 'string', 'u'), f('workdir', 'string', 'w')],
};
const RM: CommandSpec = {
  name: 'rm',
  aliases: ['container rm', 'container remove'],
  usage: 'berth rm [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Remove one or more containers',
  args: { min: 1 },
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force the removal of a running container (uses SIGKILL)' },
    { name: 'link', short: 'l', type: 'bool', description: 'Remove the specified link' },
    { name: 'volumes', short: 'v', type: 'bool', description: 'Remove anonymous volumes associated with the container' },
  ],
};
const RMI: CommandSpec = {
  name: 'rmi',
  usage: 'berth rmi [OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  args: { min: 1 },
  flags: [f('force', 'bool', 'f'), f('no-prune', 'bool')],
};
const BUILD: CommandSpec = {
  name: 'build',
  usage: 'berth build [OPTIONS] PATH | URL | -',
  description: 'Build an image from a Dockerfile',
  args: { min: 1, max: 1 },
  flags: [f('tag', 'list', 't'), f('file', 'string', 'f'), f('build-arg', 'list'), f('no-cache', 'bool'), f('quiet', 'bool', 'q')],
};
const PS: CommandSpec = {
  name: 'ps',
  usage: 'berth ps [OPTIONS]',
  description: 'List containers',
  args: { max: 0 },
  flags: [f('all', 'bool', 'a'), f('quiet', 'bool', 'q'), f('format', 'string'), f('last', 'number', 'n', { default: -1 }), f('filter', 'list', 'f'), f('no-trunc', 'bool')],
};
const LOGS: CommandSpec = {
  name: 'logs',
  usage: 'berth logs [OPTIONS] CONTAINER',
  description: 'Fetch the logs of a container',
  args: { min: 1, max: 1 },
  flags: [f('follow', 'bool', 'f'), f('tail', 'string', 'n', { default: 'all' }), f('timestamps', 'bool', 't'), f('since', 'string')],
};
const STOP: CommandSpec = {
  name: 'stop',
  usage: 'berth stop [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Stop one or more running containers',
  args: { min: 1 },
  flags: [f('time', 'number', 't'), f('signal', 'string', 's')],
};

type Expect = { args: string[]; bool?: Record<string, boolean>; str?: Record<string, string | undefined>; num?: Record<string, number | undefined>; list?: Record<string, string[]>; help?: boolean };

const cases: Array<[string, CommandSpec, string[], Expect]> = [
  ['run -it -d ubuntu', RUN, ['-it', '-d', 'ubuntu'], { args: ['ubuntu'], bool: { interactive: true, tty: true, detach: true, rm: false } }],
  ['run -itd ubuntu', RUN, ['-itd', 'ubuntu'], { args: ['ubuntu'], bool: { interactive: true, tty: true, detach: true } }],
  ['run -it -p 8080:80 -d img', RUN, ['-it', '-p', '8080:80', '-d', 'img'], { args: ['img'], list: { publish: ['8080:80'] }, bool: { detach: true, interactive: true, tty: true } }],
  ['run -dp 80:80 img (last short of a cluster takes the next arg)', RUN, ['-dp', '80:80', 'img'], { args: ['img'], bool: { detach: true }, list: { publish: ['80:80'] } }],
  ['run -itp 8080:80 img', RUN, ['-itp', '8080:80', 'img'], { args: ['img'], bool: { interactive: true, tty: true }, list: { publish: ['8080:80'] } }],
  ['run -p8080:80 img (attached value)', RUN, ['-p8080:80', 'img'], { args: ['img'], list: { publish: ['8080:80'] } }],
  ['run -dp8080:80 img (rest of cluster is the value)', RUN, ['-dp8080:80', 'img'], { args: ['img'], bool: { detach: true }, list: { publish: ['8080:80'] } }],
  ['run -pd img (p swallows "d" as its value)', RUN, ['-pd', 'img'], { args: ['img'], bool: { detach: false }, list: { publish: ['d'] } }],
  ['run -e=FOO=bar img (= after a shorthand is stripped)', RUN, ['-e=FOO=bar', 'img'], { args: ['img'], list: { env: ['FOO=bar'] } }],
  ['run -eFOO=bar img', RUN, ['-eFOO=bar', 'img'], { args: ['img'], list: { env: ['FOO=bar'] } }],
  ['run -d=false img', RUN, ['-d=false', 'img'], { args: ['img'], bool: { detach: false } }],
  ['run --rm img ls -la', RUN, ['--rm', 'img', 'ls', '-la'], { args: ['img', 'ls', '-la'], bool: { rm: true } }],
  ['run --rm=false img', RUN, ['--rm=false', 'img'], { args: ['img'], bool: { rm: false } }],
  ['run --rm=true img', RUN, ['--rm=true', 'img'], { args: ['img'], bool: { rm: true } }],
  ['run -e A=1 -e B=2 --env=C=3 img', RUN, ['-e', 'A=1', '-e', 'B=2', '--env=C=3', 'img'], { args: ['img'], list: { env: ['A=1', 'B=2', 'C=3'] } }],
  ['run -e A=1,B=2 (lists never split on commas)', RUN, ['-e', 'A=1,B=2', 'img'], { args: ['img'], list: { env: ['A=1,B=2'] } }],
  ['run -v /a:/b -v vol:/c img', RUN, ['-v', '/a:/b', '-v', 'vol:/c', 'img'], { args: ['img'], list: { volume: ['/a:/b', 'vol:/c'], publish: [] } }],
  ['run --name=x -- img cmd', RUN, ['--name=x', '--', 'img', 'cmd'], { args: ['img', 'cmd'], str: { name: 'x' } }],
  ['run --name x img', RUN, ['--name', 'x', 'img'], { args: ['img'], str: { name: 'x', workdir: undefined } }],
  ['run --name a --name b img (last wins)', RUN, ['--name', 'a', '--name', 'b', 'img'], { args: ['img'], str: { name: 'b' } }],
  ['run --name --rm img (a value may look like a flag)', RUN, ['--name', '--rm', 'img'], { args: ['img'], str: { name: '--rm' }, bool: { rm: false } }],
  ['run img --rm (after the image, flags belong to the container)', RUN, ['img', '--rm', '-it'], { args: ['img', '--rm', '-it'], bool: { rm: false, tty: false } }],
  ['run -h myhost img (run declares -h: hostname, not help)', RUN, ['-h', 'myhost', 'img'], { args: ['img'], str: { hostname: 'myhost' }, help: false }],
  ['run --help (help still has its long form)', RUN, ['--help'], { args: [], help: true }],
  ['run --memory-swappiness=-1 img', RUN, ['--memory-swappiness', '60', 'img'], { args: ['img'], num: { 'memory-swappiness': 60 } }],
  ['run default number', RUN, ['img'], { args: ['img'], num: { 'memory-swappiness': -1 } }],
  ['exec -it ID bash', EXEC, ['-it', 'ID', 'bash'], { args: ['ID', 'bash'], bool: { interactive: true, tty: true, detach: false } }],
  ['exec -u root -w /tmp ID sh -c "ls -l"', EXEC, ['-u', 'root', '-w', '/tmp', 'ID', 'sh', '-c', 'ls -l'], { args: ['ID', 'sh', '-c', 'ls -l'], str: { user: 'root', workdir: '/tmp' } }],
  ['rm -f ID', RM, ['-f', 'ID'], { args: ['ID'], bool: { force: true, volumes: false } }],
  ['rm ID -fv (interspersed: flags after positionals)', RM, ['ID', '-fv', 'ID2'], { args: ['ID', 'ID2'], bool: { force: true, volumes: true } }],
  ['rm -- -weird-name', RM, ['--', '-weird-name'], { args: ['-weird-name'], bool: { force: false } }],
  ['rmi -f ID', RMI, ['-f', 'ID'], { args: ['ID'], bool: { force: true, 'no-prune': false } }],
  ['build -t name .', BUILD, ['-t', 'name', '.'], { args: ['.'], list: { tag: ['name'] }, bool: { 'no-cache': false } }],
  ['build -t a -t b -f Dockerfile.dev .', BUILD, ['-t', 'a', '-t', 'b', '-f', 'Dockerfile.dev', '.'], { args: ['.'], list: { tag: ['a', 'b'] }, str: { file: 'Dockerfile.dev' } }],
  ['build - (a lone dash is a positional)', BUILD, ['-'], { args: ['-'] }],
  ['build -q - ', BUILD, ['-q', '-'], { args: ['-'], bool: { quiet: true } }],
  ['ps -aq', PS, ['-aq'], { args: [], bool: { all: true, quiet: true } }],
  ['ps -n 3', PS, ['-n', '3'], { args: [], num: { last: 3 } }],
  ['ps -n -1 (negative number as the next arg)', PS, ['-n', '-1'], { args: [], num: { last: -1 } }],
  ['ps -n=5', PS, ['-n=5'], { args: [], num: { last: 5 } }],
  ['ps -n5', PS, ['-n5'], { args: [], num: { last: 5 } }],
  ['ps default last', PS, [], { args: [], num: { last: -1 } }],
  ['ps --format "{{.ID}}" -f status=exited -f name=x', PS, ['--format', '{{.ID}}', '-f', 'status=exited', '-f', 'name=x'], { args: [], str: { format: '{{.ID}}' }, list: { filter: ['status=exited', 'name=x'] } }],
  ['ps -ah (help inside a cluster)', PS, ['-ah'], { args: [], help: true, bool: { all: true } }],
  ['logs -f --tail 10 ID', LOGS, ['-f', '--tail', '10', 'ID'], { args: ['ID'], bool: { follow: true }, str: { tail: '10' } }],
  ['logs ID (string default)', LOGS, ['ID'], { args: ['ID'], str: { tail: 'all', since: undefined } }],
  ['logs -n5 -t ID', LOGS, ['-n5', '-t', 'ID'], { args: ['ID'], str: { tail: '5' }, bool: { timestamps: true } }],
  ['stop -t 5 a b', STOP, ['-t', '5', 'a', 'b'], { args: ['a', 'b'], num: { time: 5 } }],
  ['stop --time=2.5 a', STOP, ['--time=2.5', 'a'], { args: ['a'], num: { time: 2.5 } }],
  ['stop a (number without default)', STOP, ['a'], { args: ['a'], num: { time: undefined } }],
  ['rm --help (help skips the argument count)', RM, ['--help'], { args: [], help: true }],
  ['rm -h', RM, ['-h'], { args: [], help: true }],
  ['rm ID --help (help anywhere when interspersed)', RM, ['ID', '--help'], { args: ['ID'], help: true }],
  ['run img --help (after the image, --help is the container\'s)', RUN, ['img', '--help'], { args: ['img', '--help'], help: false }],
  ['empty string is a positional', RM, [''], { args: [''] }],
];

for (const [title, spec, argv, want] of cases) {
  t.test(title, async (t) => {
    const p = parseArgs(spec, argv);
    t.same(p.args, want.args, 'args');
    t.equal(p.help, want.help ?? false, 'help');
    for (const [k, v] of Object.entries(want.bool ?? {})) t.equal(p.bool(k), v, `bool ${k}`);
    for (const [k, v] of Object.entries(want.str ?? {})) t.equal(p.str(k), v, `str ${k}`);
    for (const [k, v] of Object.entries(want.num ?? {})) t.equal(p.num(k), v, `num ${k}`);
    for (const [k, v] of Object.entries(want.list ?? {})) t.same(p.list(k), v, `list ${k}`);
  });
}

const errors: Array<[string, CommandSpec, string[], string]> = [
  ['unknown long flag', RUN, ['--foo', 'img'], 'unknown flag: --foo'],
  ['unknown long flag with value', RUN, ['--foo=bar', 'img'], 'unknown flag: --foo'],
  ['unknown shorthand', RM, ['-x', 'ID'], "unknown shorthand flag: 'x' in -x"],
  ['unknown shorthand inside a cluster names the rest', RM, ['-fxv', 'ID'], "unknown shorthand flag: 'x' in -xv"],
  ['long flag missing its value', RUN, ['--name'], 'flag needs an argument: --name'],
  ['shorthand missing its value', RUN, ['-p'], "flag needs an argument: 'p' in -p"],
  ['cluster ending in a valued shorthand without value', RUN, ['-itp'], "flag needs an argument: 'p' in -p"],
  ['bad number', PS, ['-n', 'abc'], 'invalid argument "abc" for "-n, --last" flag: strconv.ParseFloat: parsing "abc": invalid syntax'],
  ['empty number', STOP, ['--time=', 'a'], 'invalid argument "" for "-t, --time" flag: strconv.ParseFloat: parsing "": invalid syntax'],
  ['bad bool', RUN, ['--rm=yes', 'img'], 'invalid argument "yes" for "--rm" flag: strconv.ParseBool: parsing "yes": invalid syntax'],
  ['bad flag syntax', RM, ['---x'], 'bad flag syntax: ---x'],
  ['bad flag syntax =', RM, ['--=x'], 'bad flag syntax: --=x'],
  ['-h is hostname on run and needs a value', RUN, ['-h'], "flag needs an argument: 'h' in -h"],
];
for (const [title, spec, argv, message] of errors) {
  t.test(`error: ${title}`, async (t) => {
    const err = t.throws(() => parseArgs(spec, argv)) as BerthError;
    t.ok(ERR_USAGE.is(err), 'is ERR_USAGE');
    t.equal(err.message, message);
    t.equal(cliExitCodeOf(err), 125, 'exit code 125 like docker');
    t.equal(err.details?.hint, `See 'berth ${spec.name} --help'.`);
  });
}

t.test('positional count errors use Docker wording', async (t) => {
  const check = (spec: CommandSpec, argv: string[], first: string) => {
    const err = t.throws(() => parseArgs(spec, argv)) as BerthError;
    t.ok(ERR_USAGE.is(err));
    t.equal(err.message.split('\n')[0], first);
    return err;
  };
  const err = check(RM, [], '"berth rm" requires at least 1 argument.');
  t.equal(err.message, `"berth rm" requires at least 1 argument.\nSee 'berth rm --help'.\n\nUsage:  berth rm [OPTIONS] CONTAINER [CONTAINER...]\n\nRemove one or more containers`);
  check(EXEC, ['ID'], '"berth exec" requires at least 2 arguments.');
  check(PS, ['x'], '"berth ps" accepts no arguments.');
  check(LOGS, [], '"berth logs" requires exactly 1 argument.');
  check(LOGS, ['a', 'b'], '"berth logs" requires exactly 1 argument.');
  check({ ...BUILD, args: { min: 1, max: 2 } }, ['a', 'b', 'c'], '"berth build" requires at least 1 and at most 2 arguments.');
  check({ ...BUILD, args: { max: 2 } }, ['a', 'b', 'c'], '"berth build" requires at most 2 arguments.');
  t.same(parseArgs(EXEC, ['ID', 'sh']).args, ['ID', 'sh']);
});

t.test('has() tells given from default', async (t) => {
  const p = parseArgs(LOGS, ['--tail', 'all', 'ID']);
  t.equal(p.has('tail'), true);
  t.equal(p.has('follow'), false);
  t.equal(p.str('tail'), 'all');
  const q = parseArgs(RUN, ['--rm=false', 'img']);
  t.equal(q.has('rm'), true, 'explicit false counts as given');
  t.equal(q.bool('rm'), false);
  t.equal(q.has('help'), false);
});

t.test('list values are copies and keep order; list defaults are replaced, not appended', async (t) => {
  const spec: CommandSpec = { name: 'x', usage: 'berth x', description: 'x', flags: [f('dns', 'list', undefined, { default: ['8.8.8.8'] })] };
  t.same(parseArgs(spec, []).list('dns'), ['8.8.8.8']);
  const p = parseArgs(spec, ['--dns', '1.1.1.1', '--dns=9.9.9.9']);
  t.same(p.list('dns'), ['1.1.1.1', '9.9.9.9']);
  p.list('dns').push('mutated');
  t.same(p.list('dns'), ['1.1.1.1', '9.9.9.9']);
});

t.test('programming errors throw plain errors', async (t) => {
  const p = parseArgs(RM, ['ID']);
  t.throws(() => p.bool('nope'), /no flag --nope/);
  t.throws(() => p.str('force'), /is a bool flag, read as string/);
  t.throws(() => parseArgs({ name: 'x', usage: '', description: '', flags: [f('a', 'bool', 'a'), f('b', 'bool', 'a')] }, []), /shorthand -a declared twice/);
  t.throws(() => parseArgs({ name: 'x', usage: '', description: '', flags: [f('a', 'bool'), f('a', 'string')] }, []), /declared twice/);
  t.throws(() => parseArgs({ name: 'x', usage: '', description: '', flags: [f('a', 'bool', 'ab')] }, []), /bad shorthand/);
  t.throws(() => parseArgs({ name: 'x', usage: '', description: '', flags: [f('a', 'number', undefined, { default: 'x' })] }, []), /does not fit/);
});

t.test('deprecated flags warn once, like pflag', async (t) => {
  const spec: CommandSpec = { name: 'x', usage: 'berth x', description: 'x', flags: [f('old', 'string', undefined, { deprecated: 'use --new' }), f('new', 'string')] };
  const p = parseArgs(spec, ['--old', 'a', '--old', 'b']);
  t.same(p.warnings, ['Flag --old has been deprecated, use --new']);
  t.equal(p.str('old'), 'b');
  t.same(parseArgs(spec, ['--new', 'a']).warnings, []);
});

t.test('renderHelp matches Docker layout', async (t) => {
  t.equal(
    renderHelp(RM),
    [
      '',
      'Usage:  berth rm [OPTIONS] CONTAINER [CONTAINER...]',
      '',
      'Remove one or more containers',
      '',
      'Aliases:',
      '  berth rm, berth container rm, berth container remove',
      '',
      'Options:',
      '  -f, --force     Force the removal of a running container (uses SIGKILL)',
      '  -l, --link      Remove the specified link',
      '  -v, --volumes   Remove anonymous volumes associated with the container',
      '',
    ].join('\n'),
  );
  const spec: CommandSpec = {
    name: 'logs',
    usage: 'berth logs [OPTIONS] CONTAINER',
    description: 'Fetch the logs of a container',
    flags: [
      { name: 'tail', short: 'n', type: 'string', default: 'all', description: 'Number of lines to show from the end of the logs' },
      { name: 'follow', short: 'f', type: 'bool', description: 'Follow log output' },
      { name: 'since', type: 'string', description: 'Show logs since timestamp' },
      { name: 'secret', type: 'bool', hidden: true, description: 'not shown' },
      { name: 'old', type: 'bool', deprecated: 'gone', description: 'not shown either' },
      { name: 'last', type: 'number', default: -1, description: 'Show n last' },
      { name: 'cpus', type: 'number', default: 1.5, description: 'Number of CPUs' },
      { name: 'publish', short: 'p', type: 'list', description: 'Publish a port' },
      { name: 'workdir', short: 'w', type: 'string', valueName: 'DIR', description: 'Working directory' },
      { name: 'init', type: 'bool', default: true, description: 'Run an init' },
    ],
  };
  t.equal(
    renderHelp(spec),
    [
      '',
      'Usage:  berth logs [OPTIONS] CONTAINER',
      '',
      'Fetch the logs of a container',
      '',
      'Options:',
      '      --cpus decimal   Number of CPUs (default 1.5)',
      '  -f, --follow         Follow log output',
      '      --init           Run an init (default true)',
      '      --last int       Show n last (default -1)',
      '  -p, --publish list   Publish a port',
      '      --since string   Show logs since timestamp',
      '  -n, --tail string    Number of lines to show from the end of the logs (default "all")',
      '  -w, --workdir DIR    Working directory',
      '',
    ].join('\n'),
  );
  t.notMatch(renderHelp(spec), /help/, 'the help flag is hidden');
});

t.test('parseGlobal stops at the command', async (t) => {
  const { globals, rest } = parseGlobal(['--root', '/tmp/r', '-D', '--config=/etc/b.yaml', '-l', 'warn', 'ps', '-a', '--root', 'x']);
  t.same(globals, { root: '/tmp/r', config: '/etc/b.yaml', debug: true, logLevel: 'warn', help: false, version: false });
  t.same(rest, ['ps', '-a', '--root', 'x']);
  t.same(parseGlobal(['-v']).globals, { debug: false, help: false, version: true });
  t.same(parseGlobal(['--version']).globals.version, true);
  t.same(parseGlobal(['-h']).globals.help, true);
  t.same(parseGlobal(['--help']).globals.help, true);
  t.same(parseGlobal(['-Dv', 'info']), { globals: { debug: true, help: false, version: true }, rest: ['info'] });
  t.same(parseGlobal([]), { globals: { debug: false, help: false, version: false }, rest: [] });
  const bad = t.throws(() => parseGlobal(['--foo', 'ps'])) as BerthError;
  t.equal(bad.message, 'unknown flag: --foo');
  t.equal(bad.details?.hint, "See 'berth --help'.");
  const lvl = t.throws(() => parseGlobal(['-l', 'loud', 'ps'])) as BerthError;
  t.ok(ERR_USAGE.is(lvl));
  t.equal(lvl.message, 'Unable to parse logging level: loud');
  t.throws(() => parseGlobal(['--root']), { message: 'flag needs an argument: --root' });
});
