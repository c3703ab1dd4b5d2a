//! The modes table of the accept/reject corpus.

mod corpus;

#[test]
fn modes_cases() {
    corpus::run(corpus::modes::cases());
}
