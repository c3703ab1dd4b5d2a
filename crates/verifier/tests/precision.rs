//! The precision table of the accept/reject corpus.

mod corpus;

#[test]
fn precision_cases() {
    corpus::run(corpus::precision::cases());
}
