//! The registers table of the accept/reject corpus.

mod corpus;

#[test]
fn registers_cases() {
    corpus::run(corpus::registers::cases());
}
