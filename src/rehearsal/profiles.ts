/**
 * How a rehearsal's crowd arrives: all at once, spread evenly over a ramp, or as a Poisson
 * process (independent arrivals at a mean rate). Pure: arrival times are offsets in ms from the
 * rehearsal's start, drawn from an injected random source so tests can fix them.
 */

/** A crowd's arrival profile. */
export type Profile =
  | { readonly kind: 'all-at-once' }
  | { readonly kind: 'ramp'; readonly seconds: number }
  | { readonly kind: 'poisson'; readonly ratePerSecond: number };

/** Parses `all-at-once`, `ramp:<seconds>` or `poisson:<buyers per second>`; throws on anything else. */
export function parseProfile(text: string): Profile {
  if (text === 'all-at-once') return { kind: 'all-at-once' };
  const [kind, value, ...rest] = text.split(':');
  const number = Number(value);
  if (
    rest.length === 0 &&
    value !== undefined &&
    value !== '' &&
    number > 0 &&
    Number.isFinite(number)
  ) {
    if (kind === 'ramp') return { kind: 'ramp', seconds: number };
    if (kind === 'poisson') return { kind: 'poisson', ratePerSecond: number };
  }
  throw new Error(
    `profile must be all-at-once, ramp:<seconds> or poisson:<rate per second> (positive numbers), got ${JSON.stringify(text)}`,
  );
}

/** The profile as the command line writes it. */
export function formatProfile(profile: Profile): string {
  switch (profile.kind) {
    case 'all-at-once':
      return 'all-at-once';
    case 'ramp':
      return `ramp:${String(profile.seconds)}`;
    case 'poisson':
      return `poisson:${String(profile.ratePerSecond)}`;
  }
}

/**
 * When each of `buyers` buyers arrives, ms after the start, in ascending order. A ramp spreads
 * them evenly over its seconds, the first at 0; a Poisson crowd has exponential gaps of mean
 * 1/rate, the first after one gap. `random` returns values in [0, 1), like Math.random.
 */
export function arrivalTimes(
  profile: Profile,
  buyers: number,
  random: () => number = Math.random,
): number[] {
  const times = new Array<number>(buyers);
  let t = 0;
  for (let i = 0; i < buyers; i++) {
    switch (profile.kind) {
      case 'all-at-once':
        times[i] = 0;
        break;
      case 'ramp':
        times[i] = (i * profile.seconds * 1000) / buyers;
        break;
      case 'poisson':
        // Inverse transform of the exponential distribution; 1 - u is in (0, 1], so log is finite.
        t += (-Math.log(1 - random()) / profile.ratePerSecond) * 1000;
        times[i] = t;
        break;
    }
  }
  return times;
}
