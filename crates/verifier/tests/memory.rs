//! The memory table of the accept/reject corpus.

mod corpus;

#[test]
fn memory_cases() {
    corpus::run(corpus::memory::cases());
}
