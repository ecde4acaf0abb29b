import { shellQuote } from '../../local/shell-quote';

describe('shellQuote', () => {
  test.each<[string, string]>([
    ['office', 'office'],
    ['visit-lan_2', 'visit-lan_2'],
    ['Visit LAN', "'Visit LAN'"],
    ['a;rm -rf ~', "'a;rm -rf ~'"],
    ["it's", "'it'\\''s'"],
    ['$(id)', "'$(id)'"],
  ])('%s -> %s', (word, quoted) => {
    expect(shellQuote(word)).toBe(quoted);
  });
});
