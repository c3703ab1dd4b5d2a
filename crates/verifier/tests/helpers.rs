//! The helpers table of the accept/reject corpus.

mod corpus;

#[test]
fn helpers_cases() {
    corpus::run(corpus::helpers::cases());
}
