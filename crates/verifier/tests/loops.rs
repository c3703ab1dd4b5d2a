//! The loops table of the accept/reject corpus.

mod corpus;

#[test]
fn loops_cases() {
    corpus::run(corpus::loops::cases());
}
