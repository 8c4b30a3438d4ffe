#!/usr/bin/env node
// Oracle for the entities tests: twitter-text 3.1.0 (npm, Apache-2.0) over the real-post corpus.
// Writes one JSON line per corpus row that has any entity: {"i", "hashtags", "mentions",
// "urls", "cashtags", "reply"} (empty ones left out), from extractEntitiesWithIndices (overlaps
// resolved as ours) and extractReplies.
// Usage: node gen_golden.js [corpus.jsonl] > golden_twitter.jsonl
//        (needs `npm install twitter-text@3.1.0`; NODE_PATH may point at its node_modules)
'use strict';
const fs = require('fs');
const path = require('path');
const twttr = require('twitter-text');

const corpus = process.argv[2] ||
  path.join(__dirname, '..', '..', 'tests', 'fixtures', 'real_posts.jsonl');
const lines = fs.readFileSync(corpus, 'utf8').split('\n').filter((l) => l.length > 0);
const out = [];
lines.forEach((line, i) => {
  // Our analysis caps text at 16 KiB; corpus posts are far shorter.
  const text = JSON.parse(line).text || '';
  const ents = twttr.extractEntitiesWithIndices(text, { extractUrlsWithoutProtocol: true });
  const row = {
    i,
    hashtags: ents.filter((e) => e.hashtag !== undefined).map((e) => e.hashtag),
    mentions: ents.filter((e) => e.screenName !== undefined && !e.listSlug).map((e) => e.screenName),
    urls: ents.filter((e) => e.url !== undefined).map((e) => e.url),
    cashtags: ents.filter((e) => e.cashtag !== undefined).map((e) => e.cashtag),
    reply: twttr.extractReplies(text),
  };
  // Empty lists and a null reply are left out to keep the file small.
  const compact = { i };
  for (const k of ['hashtags', 'mentions', 'urls', 'cashtags']) {
    if (row[k].length) compact[k] = row[k];
  }
  if (row.reply) compact.reply = row.reply;
  if (Object.keys(compact).length > 1) out.push(JSON.stringify(compact));
});
process.stdout.write(out.join('\n') + '\n');
