import assert from "node:assert/strict";
import { gitCommit } from "./version.ts";

const A = "a".repeat(40), B = "b".repeat(40), C = "c".repeat(40);

function tree(files: Record<string, string>): URL {
  const root = Deno.makeTempDirSync();
  for (const [path, text] of Object.entries(files)) {
    const full = `${root}/${path}`;
    Deno.mkdirSync(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(full, text);
  }
  return new URL(`file://${root}/work/`);
}

Deno.test("gitCommit reads a clone's branch from a loose ref, a packed ref or a detached HEAD", () => {
  const loose = tree({
    "work/.git/HEAD": "ref: refs/heads/main\n",
    "work/.git/refs/heads/main": A,
  });
  assert.equal(gitCommit(loose), A);
  const packed = tree({
    "work/.git/HEAD": "ref: refs/heads/main\n",
    "work/.git/packed-refs": `# pack-refs\n${B} refs/heads/main\n`,
  });
  assert.equal(gitCommit(packed), B);
  assert.equal(gitCommit(tree({ "work/.git/HEAD": `${C}\n` })), C);
});

Deno.test("gitCommit follows a worktree's .git file to its git and common directories", () => {
  const wt = tree({
    "work/.git": "gitdir: ../repo/.git/worktrees/work\n",
    "repo/.git/worktrees/work/HEAD": "ref: refs/heads/topic\n",
    "repo/.git/worktrees/work/commondir": "../..\n",
    "repo/.git/refs/heads/topic": `${A}\n`,
  });
  assert.equal(gitCommit(wt), A);
});

Deno.test("gitCommit is null without a git checkout", () => {
  assert.equal(gitCommit(tree({ "work/README": "" })), null);
});
