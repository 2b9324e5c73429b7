using CpsLedger.Api.Platform;

namespace CpsLedger.Tests.Platform;

/// <summary>Which database <c>-d</c> names, by the names db-list shows (<see cref="SchemaScripts.Named"/>).</summary>
public sealed class SchemaScriptsNamedTests
{
    // As db-list shows the ledger's two: Marten's database Uri is Wolverine's with the schema after it.
    private static readonly IReadOnlyList<IReadOnlyList<string>> Ledger =
    [
        ["marten://store/", "postgresql://127.0.0.1/cpsledger/cpsledger", "Marten"],
        ["wolverine://messages/main", "postgresql://127.0.0.1/cpsledger", "main"],
    ];

    [Theory]
    [InlineData("marten://store/", 0)]
    [InlineData("wolverine://messages/main", 1)]
    [InlineData("postgresql://127.0.0.1/cpsledger", 1)]
    [InlineData("POSTGRESQL://127.0.0.1/CPSLEDGER/cpsledger", 0)]
    [InlineData("marten", 0)]
    [InlineData("cpsledger/cpsledger", 0)]
    [InlineData("messages", 1)]
    public void a_whole_name_or_a_part_only_one_database_has_names_it(string named, int database) =>
        Assert.Equal(database, SchemaScripts.Named(Ledger, named));

    [Theory]
    [InlineData("postgresql://")]
    [InlineData("cpsledger")]
    [InlineData("store/x")]
    [InlineData("sqlserver://127.0.0.1/cpsledger")]
    public void a_part_both_have_or_none_has_names_none(string named) =>
        Assert.Null(SchemaScripts.Named(Ledger, named));
}
