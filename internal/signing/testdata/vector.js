// vector.js produces vectors.json, the test vectors for package signing, with web3 1.7.4: the
// library network-monitoring used, so the Go code is checked against an independent
// implementation rather than against itself.
//
// Re-run it outside the repository (it needs the npm registry):
//
//   mkdir -p /tmp/web3vec && cd /tmp/web3vec && npm init -y && npm install web3@1.7.4
//   NODE_PATH=/tmp/web3vec/node_modules node /work/main/internal/signing/testdata/vector.js \
//     > /work/main/internal/signing/testdata/vectors.json
//
// The signing code below mirrors the original's generateSPSignatureParams (spec §5.3): sort the
// keys of {spID, timestamp}, JSON.stringify, keccak256, then web3.eth.accounts.sign of that hash.
'use strict';

const Web3 = require('web3');
const web3 = new Web3();

if (!/^1\./.test(Web3.version)) {
  throw new Error('expected web3 1.x, got ' + Web3.version);
}

function sortKeys(obj) {
  const out = {};
  for (const k of Object.keys(obj).sort()) out[k] = obj[k];
  return out;
}

function sign(spID, timestamp, privateKey) {
  const toSignStr = JSON.stringify(sortKeys({ timestamp, spID }));
  const toSignHash = web3.utils.keccak256(toSignStr);
  const signed = web3.eth.accounts.sign(toSignHash, privateKey);
  // Check web3's own verifier accepts it, as the content node's verifier would.
  const recovered = web3.eth.accounts.recover(toSignHash, signed.signature);
  const address = web3.eth.accounts.privateKeyToAccount(privateKey).address;
  if (recovered !== address) throw new Error('web3 recover mismatch');
  return { payload: toSignStr, address: address.toLowerCase(), signature: signed.signature };
}

const keys = [
  // Hardhat's well-known development account #0 (public test key, holds nothing).
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  // The smallest and largest valid scalars.
  '0x0000000000000000000000000000000000000000000000000000000000000001',
  '0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140',
  // keccak256("netmon test key"), given bare (no 0x) as the config may be.
  web3.utils.keccak256('netmon test key').slice(2),
];

// Timestamps as new Date(ms).toISOString() makes them, so the Go test can also check Params'
// formatting; unix_ms is null for timestamps that are not toISOString output.
const times = [
  { unix_ms: Date.UTC(2022, 9, 11, 0, 0, 1, 234) },
  { unix_ms: Date.UTC(2023, 0, 20, 23, 59, 59, 0) },
  { unix_ms: 0 },
  { unix_ms: Date.UTC(2024, 1, 29, 12, 30, 45, 7) },
];
for (const t of times) t.timestamp = new Date(t.unix_ms).toISOString();
// Not a timestamp, but pins the JSON string escaping (quotes, backslash, control characters,
// HTML characters, non-ASCII and U+2028) to JSON.stringify's.
times.push({ unix_ms: null, timestamp: 'he said "hi"\\\n\t\b\f\u0001<&>é\u2028😀' });

const spIDs = [7, 1, 123456, 0];

const vectors = [];
keys.forEach((key, i) => {
  // Every key with every timestamp, and a spread of spIDs.
  times.forEach((t, j) => {
    const spID = spIDs[(i + j) % spIDs.length];
    const v = sign(spID, t.timestamp, key);
    vectors.push({
      key,
      spID,
      timestamp: t.timestamp,
      unix_ms: t.unix_ms,
      payload: v.payload,
      address: v.address,
      signature: v.signature,
    });
  });
});

process.stdout.write(JSON.stringify({ generator: 'web3@' + Web3.version, vectors }, null, 2) + '\n');
