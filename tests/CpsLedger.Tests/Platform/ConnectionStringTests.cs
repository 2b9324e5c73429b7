using CpsLedger.Api.Platform;
using Npgsql;

namespace CpsLedger.Tests.Platform;

/// <summary>The store prepares its statements unless the configured connection string decides otherwise.</summary>
public sealed class ConnectionStringTests
{
    [Fact]
    public void Statement_preparation_is_switched_on_when_the_connection_string_does_not_mention_it()
    {
        var store = new NpgsqlConnectionStringBuilder(Database.ForStore("Host=db.example;Database=cpsledger;Username=ledger"));

        Assert.Equal(64, store.MaxAutoPrepare);
        Assert.Equal(2, store.AutoPrepareMinUsages);
        Assert.Equal("db.example", store.Host);
        Assert.Equal("ledger", store.Username);
    }

    [Theory]
    [InlineData("Host=db.example;Max Auto Prepare=0", 0)]
    [InlineData("Host=db.example;max auto prepare=0", 0)]
    [InlineData("Host=db.example;Max Auto Prepare=8", 8)]
    public void A_connection_string_that_sets_it_is_kept_as_it_is(string configured, int expected)
    {
        Assert.Equal(expected, new NpgsqlConnectionStringBuilder(Database.ForStore(configured)).MaxAutoPrepare);
    }
}
