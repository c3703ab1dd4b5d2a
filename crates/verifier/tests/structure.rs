//! The structure table of the accept/reject corpus.

mod corpus;

#[test]
fn structure_cases() {
    corpus::run(corpus::structure::cases());
}
