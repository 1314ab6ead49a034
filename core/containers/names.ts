/**
 * Container names: Docker's random `adjective_surname` names and the name rule.
 *
 * Names are unique per state root. The reservation (`container-names` bucket, key = name,
 * value = container id) is made under that bucket's lock by the container service, so two CLIs
 * creating `--name web` at once get one success and one ERR_CONTAINER_NAME_CONFLICT.
 */
import { randomInt } from 'node:crypto';
import { defineError } from '../errors';

export const ERR_CONTAINER_NAME_INVALID = defineError('ERR_CONTAINER_NAME_INVALID', 'invalidArgument', 'Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed');
export const ERR_CONTAINER_NAME_CONFLICT = defineError(
  'ERR_CONTAINER_NAME_CONFLICT', 'conflict',
  'Conflict. The container name "/%s" is already in use by container "%s". You have to remove (or rename) that container to be able to reuse that name.',
);

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Strips a leading '/' and validates; throws ERR_CONTAINER_NAME_INVALID. */
export function validateName(name: string): string {
  if (!NAME_RE.test(name) || name.length > 200) throw ERR_CONTAINER_NAME_INVALID(name);
  return name.replace(/^\//, '');
}

// A subset of moby's pkg/namesgenerator lists.
const LEFT = [
  'admiring', 'adoring', 'affectionate', 'agitated', 'amazing', 'angry', 'awesome', 'beautiful', 'blissful', 'bold', 'boring',
  'brave', 'busy', 'charming', 'clever', 'compassionate', 'competent', 'condescending', 'confident', 'cool', 'cranky', 'crazy',
  'dazzling', 'determined', 'distracted', 'dreamy', 'eager', 'ecstatic', 'elastic', 'elated', 'elegant', 'eloquent', 'epic',
  'exciting', 'fervent', 'festive', 'flamboyant', 'focused', 'friendly', 'frosty', 'funny', 'gallant', 'gifted', 'goofy',
  'gracious', 'great', 'happy', 'hardcore', 'heuristic', 'hopeful', 'hungry', 'infallible', 'inspiring', 'intelligent',
  'interesting', 'jolly', 'jovial', 'keen', 'kind', 'laughing', 'loving', 'lucid', 'magical', 'modest', 'musing', 'mystifying',
  'naughty', 'nervous', 'nice', 'nifty', 'nostalgic', 'objective', 'optimistic', 'peaceful', 'pedantic', 'pensive', 'practical',
  'priceless', 'quirky', 'quizzical', 'recursing', 'relaxed', 'reverent', 'romantic', 'sad', 'serene', 'sharp', 'silly',
  'sleepy', 'stoic', 'strange', 'stupefied', 'suspicious', 'sweet', 'tender', 'thirsty', 'trusting', 'unruffled', 'upbeat',
  'vibrant', 'vigilant', 'vigorous', 'wizardly', 'wonderful', 'xenodochial', 'youthful', 'zealous', 'zen',
];
const RIGHT = [
  'agnesi', 'albattani', 'allen', 'almeida', 'antonelli', 'archimedes', 'ardinghelli', 'aryabhata', 'austin', 'babbage',
  'banach', 'banzai', 'bardeen', 'bartik', 'bassi', 'beaver', 'bell', 'benz', 'bhabha', 'bhaskara', 'black', 'blackburn',
  'blackwell', 'bohr', 'booth', 'borg', 'bose', 'bouman', 'boyd', 'brahmagupta', 'brattain', 'brown', 'buck', 'burnell',
  'cannon', 'carson', 'cartwright', 'carver', 'cerf', 'chandrasekhar', 'chaplygin', 'chatelet', 'chatterjee', 'chaum',
  'chebyshev', 'clarke', 'cohen', 'colden', 'cori', 'cray', 'curie', 'curran', 'darwin', 'davinci', 'dewdney', 'dhawan',
  'diffie', 'dijkstra', 'dirac', 'driscoll', 'dubinsky', 'easley', 'edison', 'einstein', 'elbakyan', 'elgamal', 'elion',
  'ellis', 'engelbart', 'euclid', 'euler', 'faraday', 'feistel', 'fermat', 'fermi', 'feynman', 'franklin', 'gagarin',
  'galileo', 'galois', 'ganguly', 'gates', 'gauss', 'germain', 'goldberg', 'goldstine', 'goldwasser', 'golick', 'goodall',
  'gould', 'greider', 'grothendieck', 'haibt', 'hamilton', 'haslett', 'hawking', 'heisenberg', 'hellman', 'hermann',
  'herschel', 'hertz', 'heyrovsky', 'hodgkin', 'hofstadter', 'hoover', 'hopper', 'hugle', 'hypatia', 'ishizaka', 'jackson',
  'jang', 'jemison', 'jennings', 'jepsen', 'johnson', 'joliot', 'jones', 'kalam', 'kapitsa', 'kare', 'keldysh', 'keller',
  'kepler', 'khayyam', 'khorana', 'kilby', 'kirch', 'knuth', 'kowalevski', 'lalande', 'lamarr', 'lamport', 'leakey',
  'leavitt', 'lederberg', 'lehmann', 'lewin', 'lichterman', 'liskov', 'lovelace', 'lumiere', 'mahavira', 'margulis',
  'matsumoto', 'maxwell', 'mayer', 'mccarthy', 'mcclintock', 'mclaren', 'mclean', 'mcnulty', 'meitner', 'mendel',
  'mendeleev', 'meninsky', 'merkle', 'mestorf', 'mirzakhani', 'montalcini', 'moore', 'morse', 'moser', 'murdock', 'napier',
  'nash', 'neumann', 'newton', 'nightingale', 'nobel', 'noether', 'northcutt', 'noyce', 'panini', 'pare', 'pascal', 'pasteur',
  'payne', 'perlman', 'pike', 'poincare', 'poitras', 'proskuriakova', 'ptolemy', 'raman', 'ramanujan', 'rhodes', 'ride',
  'ritchie', 'robinson', 'roentgen', 'rosalind', 'rubin', 'saha', 'sammet', 'sanderson', 'satoshi', 'shamir', 'shannon',
  'shaw', 'shirley', 'shockley', 'shtern', 'sinoussi', 'snyder', 'solomon', 'spence', 'stonebraker', 'sutherland', 'swanson',
  'swartz', 'swirles', 'taussig', 'tesla', 'tharp', 'thompson', 'torvalds', 'tu', 'turing', 'varahamihira', 'vaughan',
  'villani', 'visvesvaraya', 'volhard', 'wescoff', 'wilbur', 'wiles', 'williams', 'williamson', 'wilson', 'wing', 'wozniak',
  'wright', 'wu', 'yalow', 'yonath', 'zhukovsky',
];

/** A random Docker-style name; `retry` > 0 appends a digit as moby does after a collision. */
export function randomName(retry = 0): string {
  let name = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
  if (name === 'boring_wozniak') return randomName(retry); // Steve Wozniak is not boring (moby)
  if (retry > 0) name += String(randomInt(10));
  return name;
}
