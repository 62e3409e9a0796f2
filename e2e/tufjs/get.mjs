// Downloads one target of one Hallmark shard with tuf-js, an independent TUF
// client, the way any npm user of tuf-js would. Used by e2e/tufjs_test.go.
//
//   node get.mjs METADATA_URL TARGETS_URL ROOT_FILE TARGET_PATH OUTPUT CACHE_DIR
//
// METADATA_URL is the shard's metadata directory (<repo>/metadata/<shard>/),
// TARGETS_URL the repository's targets directory (<repo>/targets/), ROOT_FILE
// the initial trusted root. CACHE_DIR keeps the trusted metadata between runs
// (ROOT_FILE is copied there on first use only, as TUF clients do). On
// success it writes the verified target to OUTPUT and prints one JSON line
// {"path", "length", "sha256"}; on failure it prints the error to stderr and
// exits 1 (2 when the target is not in the repository, 64 for bad usage).
import fs from 'node:fs';
import path from 'node:path';
import { Updater } from 'tuf-js';

const args = process.argv.slice(2);
if (args.length !== 6) {
  console.error(
    'usage: node get.mjs METADATA_URL TARGETS_URL ROOT_FILE TARGET_PATH OUTPUT CACHE_DIR',
  );
  process.exit(64);
}
const [metadataUrl, targetsUrl, rootFile, targetPath, output, cacheDir] = args;

async function main() {
  const metadataDir = path.join(cacheDir, 'metadata');
  const targetDir = path.join(cacheDir, 'targets');
  fs.mkdirSync(metadataDir, { recursive: true });
  fs.mkdirSync(targetDir, { recursive: true });
  const trustedRoot = path.join(metadataDir, 'root.json');
  if (!fs.existsSync(trustedRoot)) {
    fs.copyFileSync(rootFile, trustedRoot);
  }

  const updater = new Updater({
    metadataDir,
    metadataBaseUrl: metadataUrl,
    targetDir,
    targetBaseUrl: targetsUrl,
    config: {
      // Consistent snapshots: targets are served as <dir>/<sha256>.<name>.
      prefixTargetsWithHash: true,
      fetchTimeout: 30000,
      fetchRetry: 0,
    },
  });
  await updater.refresh();
  const info = await updater.getTargetInfo(targetPath);
  if (!info) {
    console.error(`tuf-js: target ${targetPath} not found`);
    process.exit(2);
  }
  await updater.downloadTarget(info, output);
  process.stdout.write(
    JSON.stringify({ path: info.path, length: info.length, sha256: info.hashes.sha256 ?? '' }) + '\n',
  );
}

main().catch((err) => {
  console.error(`tuf-js: ${err?.name ?? 'Error'}: ${err?.message ?? err}`);
  process.exit(1);
});
