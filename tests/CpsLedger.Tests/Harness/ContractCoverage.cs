namespace CpsLedger.Tests.Harness;

/// <summary>
/// Keeps the OpenAPI document honest in the other direction: after the whole suite, every operation has been called and
/// every success and 404 status it documents has been answered to some test (<see cref="Contract.Unobserved"/>). A status
/// nobody can produce is a lie in the document; one nobody tests is a gap in the suite. Either way the run fails.
/// Enforced where the whole suite runs (<c>CPSLEDGER_CONTRACT_COVERAGE=enforce</c>, set by <c>.ci/run</c>); a filtered local
/// run only writes the list to <c>contract-coverage.txt</c> next to the test assembly.
/// </summary>
public static class ContractCoverage
{
    public static void Report(IReadOnlyList<string> unobserved)
    {
        var file = Path.Combine(AppContext.BaseDirectory, "contract-coverage.txt");
        File.WriteAllLines(file, unobserved);
        var enforced = string.Equals(Environment.GetEnvironmentVariable("CPSLEDGER_CONTRACT_COVERAGE"), "enforce", StringComparison.OrdinalIgnoreCase);
        if (enforced && unobserved.Count > 0)
            throw new UntestedContractResponses($"The OpenAPI document promises {unobserved.Count} response(s) no test received:\n  " +
                                        string.Join("\n  ", unobserved));
    }
}

/// <summary>Responses the document promises that no test received (xunit shows only this name for a fixture's failure: see the file).</summary>
public sealed class UntestedContractResponses(string message) : Exception(message);
