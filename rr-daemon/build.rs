//! Build script: records the git commit for `version` and build info.

include!("../scripts/git_commit.rs");

fn main() {
    git_commit();
}
